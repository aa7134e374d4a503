//! Password hashing for user accounts.
//!
//! Passwords are hashed with Argon2id (19 MiB of memory, 2 iterations, 1 lane, the
//! OWASP baseline) and a random 16-byte salt. The stored string is the PHC format, so
//! the parameters travel with the hash and can be raised later: a login with an older
//! hash re-hashes the password with the current parameters.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher().hash_password(password.as_bytes(), &salt).expect("hashing succeeds").to_string()
}

/// Whether `password` matches the stored PHC string; a malformed string never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}
