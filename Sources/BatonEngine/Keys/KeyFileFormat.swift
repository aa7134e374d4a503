import Crypto
import Foundation
import _CryptoExtras

/// The cost parameters of scrypt: `n` (CPU and memory cost, a power of two), `r` (block size), `p` (parallelism).
struct ScryptParameters: Sendable, Hashable {
    /// The CPU and memory cost, a power of two.
    var n: Int
    /// The block size.
    var r: Int
    /// The parallelism.
    var p: Int

    /// What new files use: 128 MiB, and about 0.35 s for one derivation on a 2-core x86 machine (release build).
    static let standard = ScryptParameters(n: 1 << 17, r: 8, p: 1)

    /// The most a file may ask for, so that a damaged or hostile header cannot exhaust memory: 1 GiB.
    static let maximumMemory = 1 << 30

    /// The memory one derivation needs, in bytes.
    var memory: Int { 128 * n * r * p }

    /// Whether these are parameters scrypt accepts and that stay within ``maximumMemory``.
    var isAcceptable: Bool {
        guard n >= 2, n <= 1 << 24, n & (n - 1) == 0, (1...32).contains(r), (1...16).contains(p) else { return false }
        return memory <= Self.maximumMemory
    }
}

/// One key in the key file: the key and the hosts it may be sent to.
public struct KeyFileEntry: Sendable, Equatable {
    /// The key itself.
    public var key: String
    /// The hosts it may be sent to; nil when none are recorded (a version 1 file, or `baton keys set` without
    /// `--host`): then the provider's official host (``KeyHosts/defaultHost(name:kind:)``).
    public var hosts: [KeyHost]?

    /// An entry for `key`, bound to `hosts`.
    public init(key: String, hosts: [KeyHost]? = nil) {
        self.key = key
        self.hosts = hosts.map { Array(Set($0)).sorted() }
    }
}

/// The key file's bytes: a versioned JSON envelope around a sealed JSON map of names to entries.
///
/// ```json
/// {"cipher": "AES-GCM-256", "kdf": {"n": 131072, "name": "scrypt", "p": 1, "r": 8, "salt": "…"},
///  "sealed": "…", "version": 2}
/// ```
/// `sealed` is the base64 of nonce, ciphertext and tag together (the `combined` form of swift-crypto's sealed
/// boxes); the header (version, KDF and its parameters and salt, cipher) is the associated data, so changing any of
/// it fails authentication. The salt and the nonce are fresh on every write.
///
/// Version 2 seals `{NAME: {"key": "…", "hosts": ["host[:port]", …]}}` (`hosts` absent for the default), so the hosts
/// a key may go to are authenticated with it and nobody can add one without the passphrase. Version 1 sealed
/// `{NAME: "key"}`; it is still read (every key gets its default hosts) and the next write makes it version 2.
enum KeyFileFormat {
    /// The format version this code writes.
    static let version = 2
    /// The versions this code reads.
    static let readableVersions = 1...2
    /// The salt's length in bytes for new files.
    static let saltByteCount = 16
    /// Files larger than this are not key files Baton wrote.
    static let maximumFileSize = 1 << 20

    /// The authenticated ciphers a file may use, named as in the file.
    enum Cipher: String, Sendable, CaseIterable {
        /// AES in Galois/Counter Mode with a 256-bit key, 96-bit nonce and 128-bit tag.
        case aesGCM256 = "AES-GCM-256"
        /// ChaCha20-Poly1305 with a 256-bit key, 96-bit nonce and 128-bit tag.
        case chaChaPoly = "ChaChaPoly"

        /// Nonce plus tag: the shortest `combined` box.
        static let overhead = 12 + 16
    }

    /// The JSON document as written.
    struct Envelope: Codable, Sendable, Equatable {
        /// The key derivation and its parameters.
        struct KDF: Codable, Sendable, Equatable {
            var name: String
            var salt: String
            var n: Int
            var r: Int
            var p: Int
        }

        var version: Int
        var kdf: KDF
        var cipher: String
        var sealed: String
    }

    /// An envelope whose header was checked, with its binary fields decoded.
    struct Parsed: Sendable, Equatable {
        var salt: Data
        var scrypt: ScryptParameters
        var cipher: Cipher
        var sealed: Data
        /// The salt exactly as in the file, which is part of the associated data.
        var saltText: String
        /// The file's format version, which says how the sealed content is laid out.
        var version: Int = KeyFileFormat.version
    }

    /// One entry as version 2 seals it.
    private struct StoredEntry: Codable {
        var key: String
        var hosts: [String]?
    }

    // MARK: - Writing

    /// The file's bytes for `entries`, sealed with a key derived from `passphrase` with a fresh salt and nonce, in
    /// format `version` (tests write version 1 to check it still reads).
    static func seal(
        _ entries: [String: KeyFileEntry], passphrase: String, scrypt: ScryptParameters, cipher: Cipher, path: String,
        version: Int = KeyFileFormat.version
    ) throws(KeyFileError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let plaintext: Data
        do {
            if version == 1 {
                plaintext = try encoder.encode(entries.mapValues(\.key))
            } else {
                plaintext = try encoder.encode(entries.mapValues { StoredEntry(key: $0.key, hosts: $0.hosts?.map(\.description)) })
            }
        } catch {
            throw .unwritable(path: path, reason: "the keys could not be encoded")
        }
        let salt = randomBytes(saltByteCount)
        let saltText = salt.base64EncodedString()
        let key: SymmetricKey
        do { key = try deriveKey(passphrase: passphrase, salt: salt, scrypt: scrypt) } catch {
            throw .unwritable(path: path, reason: "the key derivation failed (out of memory?)")
        }
        let aad = associatedData(version: version, saltText: saltText, scrypt: scrypt, cipher: cipher)
        let sealed: Data
        do {
            switch cipher {
            case .aesGCM256:
                guard let combined = try AES.GCM.seal(plaintext, using: key, authenticating: aad).combined else {
                    throw KeyFileError.unwritable(path: path, reason: "the cipher did not produce a combined box")
                }
                sealed = combined
            case .chaChaPoly:
                sealed = try ChaChaPoly.seal(plaintext, using: key, authenticating: aad).combined
            }
        } catch let error as KeyFileError {
            throw error
        } catch {
            throw .unwritable(path: path, reason: "encryption failed")
        }
        let envelope = Envelope(
            version: version, kdf: .init(name: "scrypt", salt: saltText, n: scrypt.n, r: scrypt.r, p: scrypt.p),
            cipher: cipher.rawValue, sealed: sealed.base64EncodedString())
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(envelope) + Data("\n".utf8) } catch {
            throw .unwritable(path: path, reason: "the file could not be encoded")
        }
    }

    // MARK: - Reading

    /// Checks the envelope in `data` and decodes its header, without the passphrase.
    ///
    /// - Throws: ``KeyFileError/unsupportedVersion(path:version:)`` for another version, else
    ///   ``KeyFileError/corrupted(path:reason:)`` for anything that is not a well-formed file of a version it reads.
    static func parse(_ data: Data, path: String) throws(KeyFileError) -> Parsed {
        func corrupted(_ reason: String) -> KeyFileError { .corrupted(path: path, reason: reason) }
        guard data.count <= maximumFileSize else { throw corrupted("it is larger than 1 MiB") }
        struct Probe: Decodable { var version: Int? }
        let decoder = JSONDecoder()
        let probe: Probe
        do { probe = try decoder.decode(Probe.self, from: data) } catch {
            throw corrupted("it is not a JSON object with a whole-number version; it may be cut short")
        }
        guard let fileVersion = probe.version else { throw corrupted("it has no version") }
        guard readableVersions.contains(fileVersion) else { throw .unsupportedVersion(path: path, version: fileVersion) }
        let envelope: Envelope
        do { envelope = try decoder.decode(Envelope.self, from: data) } catch {
            throw corrupted("a field of the header is missing or of the wrong type")
        }
        guard envelope.kdf.name == "scrypt" else { throw corrupted("its key derivation is not scrypt") }
        guard let cipher = Cipher(rawValue: envelope.cipher) else {
            throw corrupted("its cipher is neither AES-GCM-256 nor ChaChaPoly")
        }
        let scrypt = ScryptParameters(n: envelope.kdf.n, r: envelope.kdf.r, p: envelope.kdf.p)
        guard scrypt.isAcceptable else {
            throw corrupted("its scrypt parameters are out of range (n a power of two up to 2^24, r 1 to 32, p 1 to 16, at most 1 GiB)")
        }
        guard let salt = canonicalBase64(envelope.kdf.salt), (8...64).contains(salt.count) else {
            throw corrupted("its salt is not base64 of 8 to 64 bytes")
        }
        guard let sealed = canonicalBase64(envelope.sealed) else { throw corrupted("its sealed data is not base64") }
        guard sealed.count >= Cipher.overhead else { throw corrupted("its sealed data is too short; it was cut") }
        return Parsed(salt: salt, scrypt: scrypt, cipher: cipher, sealed: sealed, saltText: envelope.kdf.salt, version: fileVersion)
    }

    /// Derives the key from `passphrase` and opens the sealed map.
    ///
    /// - Throws: ``KeyFileError/wrongPassphrase(path:)`` when authentication fails, else
    ///   ``KeyFileError/corrupted(path:reason:)``.
    static func open(_ parsed: Parsed, passphrase: String, path: String) throws(KeyFileError) -> [String: KeyFileEntry] {
        let key: SymmetricKey
        do { key = try deriveKey(passphrase: passphrase, salt: parsed.salt, scrypt: parsed.scrypt) } catch {
            throw .corrupted(path: path, reason: "its scrypt parameters cannot be used on this machine")
        }
        let aad = associatedData(version: parsed.version, saltText: parsed.saltText, scrypt: parsed.scrypt, cipher: parsed.cipher)
        // With a well-formed box and a 256-bit key, opening fails only when the tag does not match: a wrong key, or
        // changed bytes. (CryptoKit says `authenticationFailure`; swift-crypto's BoringSSL backend reports the same
        // thing as an `underlyingCoreCryptoError`, so the boxes are built first and any failure after is the tag.)
        let plaintext: Data
        switch parsed.cipher {
        case .aesGCM256:
            let box: AES.GCM.SealedBox
            do { box = try AES.GCM.SealedBox(combined: parsed.sealed) } catch {
                throw .corrupted(path: path, reason: "its sealed data is not a nonce, ciphertext and tag")
            }
            do { plaintext = try AES.GCM.open(box, using: key, authenticating: aad) } catch {
                throw .wrongPassphrase(path: path)
            }
        case .chaChaPoly:
            let box: ChaChaPoly.SealedBox
            do { box = try ChaChaPoly.SealedBox(combined: parsed.sealed) } catch {
                throw .corrupted(path: path, reason: "its sealed data is not a nonce, ciphertext and tag")
            }
            do { plaintext = try ChaChaPoly.open(box, using: key, authenticating: aad) } catch {
                throw .wrongPassphrase(path: path)
            }
        }
        if parsed.version == 1 {
            do { return try JSONDecoder().decode([String: String].self, from: plaintext).mapValues { KeyFileEntry(key: $0) } } catch {
                throw .corrupted(path: path, reason: "the decrypted content is not a map of names to keys")
            }
        }
        let stored: [String: StoredEntry]
        do { stored = try JSONDecoder().decode([String: StoredEntry].self, from: plaintext) } catch {
            throw .corrupted(path: path, reason: "the decrypted content is not a map of names to keys and hosts")
        }
        var entries: [String: KeyFileEntry] = [:]
        for (name, entry) in stored {
            var hosts: [KeyHost]?
            if let texts = entry.hosts {
                hosts = try texts.map { text throws(KeyFileError) -> KeyHost in
                    guard let host = KeyHost(parsing: text) else {
                        throw .corrupted(path: path, reason: "the key '\(name)' records '\(text)', which is not a host")
                    }
                    return host
                }
            }
            entries[name] = KeyFileEntry(key: entry.key, hosts: hosts)
        }
        return entries
    }

    // MARK: - Pieces

    /// The header as authenticated data: every field that is not the sealed box, in a fixed layout.
    static func associatedData(version: Int, saltText: String, scrypt: ScryptParameters, cipher: Cipher) -> Data {
        Data(
            "baton-keys\nversion=\(version)\nkdf=scrypt\nsalt=\(saltText)\nn=\(scrypt.n)\nr=\(scrypt.r)\np=\(scrypt.p)\ncipher=\(cipher.rawValue)"
                .utf8)
    }

    /// The 256-bit key scrypt derives from `passphrase` (in Unicode normal form C, so that the same passphrase typed
    /// on another system opens the file) and `salt`.
    static func deriveKey(passphrase: String, salt: Data, scrypt: ScryptParameters) throws -> SymmetricKey {
        try KDF.Scrypt.deriveKey(
            from: Data(passphrase.precomposedStringWithCanonicalMapping.utf8), salt: salt, outputByteCount: 32,
            rounds: scrypt.n, blockSize: scrypt.r, parallelism: scrypt.p)
    }

    /// The bytes of `text` when it is base64 exactly as this code writes it (so no bit of the file is ignored).
    static func canonicalBase64(_ text: String) -> Data? {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
        return data
    }

    /// `count` bytes from the system's cryptographically secure generator.
    static func randomBytes(_ count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}
