import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The encrypted file of API keys: read only when no one else may read it, written atomically with mode 0600.
///
/// The file is a small JSON envelope (see `KeyFileFormat`) around a map of names to keys, sealed with AES-GCM-256
/// under a key scrypt derives from a passphrase. Its default place is `$XDG_CONFIG_HOME/baton/keys.json.enc`
/// (`~/.config/baton/keys.json.enc`); `BATON_KEY_FILE` names another.
public struct KeyFile: Sendable {
    /// Where the file is (or will be).
    public let path: String
    /// The scrypt parameters of new writes; reading uses those recorded in the file.
    let scrypt: ScryptParameters
    /// The cipher of new writes; reading uses the one recorded in the file.
    let cipher: KeyFileFormat.Cipher
    /// A failure to inject into the next writes (crash tests only; nil in normal use).
    public var fault: KeyFileFault?

    /// A key file at `path`, written with the standard scrypt parameters and AES-GCM-256.
    public init(path: String) {
        self.init(path: path, scrypt: .standard, cipher: .aesGCM256)
    }

    /// A key file at `path` written with `scrypt` and `cipher` (tests use a small `n` to run fast).
    init(path: String, scrypt: ScryptParameters, cipher: KeyFileFormat.Cipher = .aesGCM256) {
        self.path = path
        self.scrypt = scrypt
        self.cipher = cipher
    }

    /// `$BATON_KEY_FILE`, else `$XDG_CONFIG_HOME/baton/keys.json.enc`, else `~/.config/baton/keys.json.enc`.
    public static func defaultPath(environment: [String: String]) -> String {
        if let file = environment["BATON_KEY_FILE"], !file.isEmpty { return file }
        let config =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) + "/.config")
        return config + "/baton/keys.json.enc"
    }

    /// The key file of this process's environment, with the fault `BATON_TEST_KEY_FILE_FAULT` names, if any.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> KeyFile {
        var file = KeyFile(path: defaultPath(environment: environment))
        file.fault = environment[KeyFileFault.variable].flatMap(KeyFileFault.init(rawValue:))
        return file
    }

    // MARK: - Reading

    /// Reads the file and checks its permissions and header; the passphrase is needed only to unlock the result.
    ///
    /// - Returns: nil when there is no file at ``path``.
    /// - Throws: ``KeyFileError/permissionsTooOpen(path:mode:)`` when group or others have any permission on it
    ///   (like ssh with private keys), ``KeyFileError/unreadable(path:reason:)``,
    ///   ``KeyFileError/unsupportedVersion(path:version:)`` or ``KeyFileError/corrupted(path:reason:)``.
    public func load() throws(KeyFileError) -> SealedKeyFile? {
        // O_NONBLOCK: opening a FIFO put in the file's place must not hang; it is refused below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw .unreadable(path: path, reason: Self.reason(code))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, reason: Self.reason(errno)) }
        guard info.st_mode & 0o170000 == 0o100000 else { throw .unreadable(path: path, reason: "it is not a regular file") }
        let mode = Int(info.st_mode & 0o7777)
        guard mode & 0o077 == 0 else { throw .permissionsTooOpen(path: path, mode: mode) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count <= KeyFileFormat.maximumFileSize {
            let count = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: Self.reason(errno))
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return SealedKeyFile(path: path, parsed: try KeyFileFormat.parse(data, path: path))
    }

    /// Reads and unlocks the file: its map of names to keys, empty when there is no file.
    ///
    /// - Throws: what ``load()`` and ``SealedKeyFile/unlock(passphrase:)`` throw.
    public func read(passphrase: String) throws(KeyFileError) -> [String: String] {
        try load()?.unlock(passphrase: passphrase) ?? [:]
    }

    /// Reads and unlocks the file: its entries (keys and their hosts), empty when there is no file.
    public func readEntries(passphrase: String) throws(KeyFileError) -> [String: KeyFileEntry] {
        try load()?.unlockEntries(passphrase: passphrase) ?? [:]
    }

    // MARK: - Writing

    /// Replaces the file with `keys`, each bound to its default host, sealed under `passphrase`.
    public func write(_ keys: [String: String], passphrase: String) throws(KeyFileError) {
        try write(entries: keys.mapValues { KeyFileEntry(key: $0) }, passphrase: passphrase)
    }

    /// Replaces the file with `entries` sealed under `passphrase`, with a fresh salt and nonce, in the current format.
    ///
    /// The new content goes to a temporary file in the same folder, created with mode 0600 (never readable by
    /// others, whatever the umask), flushed, then renamed over the old one; a crash leaves the old file or the new
    /// one, never a mix. Missing folders are created with mode 0700. When ``path`` is a symbolic link, the file it
    /// points to is replaced and the link kept.
    ///
    /// - Throws: ``KeyFileError/unwritable(path:reason:)``; the previous file is then unchanged.
    public func write(entries: [String: KeyFileEntry], passphrase: String) throws(KeyFileError) {
        try write(entries: entries, passphrase: passphrase, version: KeyFileFormat.version)
    }

    /// Writes `entries` in format `version` (tests write version 1 files to check they still read).
    func write(entries: [String: KeyFileEntry], passphrase: String, version: Int) throws(KeyFileError) {
        let data = try KeyFileFormat.seal(entries, passphrase: passphrase, scrypt: scrypt, cipher: cipher, path: path, version: version)
        let target = resolvedTarget()
        let folder = (target as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? "." : folder
        try makeDirectory(directory)
        let suffix = KeyFileFormat.randomBytes(6).map { String(format: "%02x", $0) }.joined()
        let temporary = "\(directory)/.\((target as NSString).lastPathComponent).\(suffix).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .unwritable(path: path, reason: Self.reason(errno)) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            defer { close(fd) }
            // The umask can only have removed bits from 0600; make it exactly 0600.
            guard fchmod(fd, 0o600) == 0 else { throw KeyFileError.unwritable(path: path, reason: Self.reason(errno)) }
            // An injected fault stops half-way through the content, as a full disk or a kill would.
            let written = fault == nil || fault == .killBeforeRename ? data.count : data.count / 2
            try writeAll(data.prefix(written), to: fd)
            guard fsync(fd) == 0 else { throw KeyFileError.unwritable(path: path, reason: Self.reason(errno)) }
            if let fault { try fault.strike(path: path) }
        }
        guard rename(temporary, target) == 0 else { throw .unwritable(path: path, reason: Self.reason(errno)) }
        renamed = true
        // Make the rename itself durable; a failure here loses nothing that was not already at risk.
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
        removeStaleTemporaries(in: directory, of: (target as NSString).lastPathComponent)
    }

    /// Deletes the temporary files that writes killed before their rename left beside the file: `.NAME.<12 hex>.tmp`,
    /// untouched for a minute (a younger one may be another write's, in progress). They are sealed like the file, so
    /// this is tidiness, not secrecy.
    private func removeStaleTemporaries(in directory: String, of name: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let prefix = ".\(name)."
        let cutoff = Date().timeIntervalSince1970 - 60
        for entry in entries where entry.hasPrefix(prefix) && entry.hasSuffix(".tmp") {
            let middle = entry.dropFirst(prefix.count).dropLast(4)
            guard middle.count == 12, middle.allSatisfy(\.isHexDigit) else { continue }
            var info = stat()
            let path = "\(directory)/\(entry)"
            guard lstat(path, &info) == 0, info.st_mode & 0o170000 == 0o100000 else { continue }
            #if canImport(Glibc)
                let modified = Double(info.st_mtim.tv_sec)
            #else
                let modified = Double(info.st_mtimespec.tv_sec)
            #endif
            if modified < cutoff { unlink(path) }
        }
    }

    private func writeAll(_ data: Data, to fd: Int32) throws(KeyFileError) {
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { bytes in
                systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .unwritable(path: path, reason: Self.reason(errno))
            }
            offset += written
        }
    }

    /// ``path``, or the file it points to when it is a symbolic link.
    private func resolvedTarget() -> String {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & 0o170000 == 0o120000, let resolved = realpath(path, nil) else {
            return path
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Creates `directory` and its missing parents with mode 0700.
    private func makeDirectory(_ directory: String) throws(KeyFileError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & 0o170000 == 0o040000 else {
                throw .unwritable(path: path, reason: "\(directory) is not a folder")
            }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory { try makeDirectory(parent) }
        if mkdir(directory, 0o700) == 0 {
            _ = chmod(directory, 0o700)
        } else if errno != EEXIST {
            throw .unwritable(path: path, reason: "cannot create the folder \(directory): \(Self.reason(errno))")
        }
    }

    /// The system's wording of `code`, such as "Permission denied".
    static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// A failure injected into ``KeyFile/write(_:passphrase:)`` by crash tests, named by `BATON_TEST_KEY_FILE_FAULT`: each
/// one stops the write before the rename, where a failure must leave the previous file whole and readable.
public enum KeyFileFault: String, Sendable, CaseIterable {
    /// Half the new content is written to the temporary file, then the write fails as a full disk would.
    case failMidWrite = "fail-mid-write"
    /// Half the new content is written to the temporary file, then the process is killed (SIGKILL, no cleanup).
    case killMidWrite = "kill-mid-write"
    /// All the new content is written and flushed, then the process is killed just before the rename.
    case killBeforeRename = "kill-before-rename"

    /// The environment variable the command layer reads it from.
    public static let variable = "BATON_TEST_KEY_FILE_FAULT"

    /// Fails or kills the process, as the fault says.
    func strike(path: String) throws(KeyFileError) {
        switch self {
        case .failMidWrite:
            throw .unwritable(path: path, reason: "a failure injected by \(Self.variable)")
        case .killMidWrite, .killBeforeRename:
            kill(getpid(), SIGKILL)
            while true { pause() }
        }
    }
}

/// A key file read from disk whose header was checked, waiting for its passphrase.
public struct SealedKeyFile: Sendable {
    /// Where it was read from.
    public let path: String
    /// The checked header and the sealed box.
    let parsed: KeyFileFormat.Parsed

    /// Creates one from the bytes of a file (tests use it to try damaged bytes without touching the disk).
    init(path: String, parsed: KeyFileFormat.Parsed) {
        self.path = path
        self.parsed = parsed
    }

    /// The scrypt parameters the file records.
    var scrypt: ScryptParameters { parsed.scrypt }

    /// Derives the key from `passphrase` and decrypts the map of names to keys.
    ///
    /// - Throws: ``KeyFileError/wrongPassphrase(path:)`` when authentication fails (a wrong passphrase, or a file
    ///   changed after it was written), ``KeyFileError/corrupted(path:reason:)`` when the content is not a map.
    public func unlock(passphrase: String) throws(KeyFileError) -> [String: String] {
        try unlockEntries(passphrase: passphrase).mapValues(\.key)
    }

    /// Derives the key from `passphrase` and decrypts the entries: each key with the hosts it may be sent to.
    ///
    /// - Throws: as ``unlock(passphrase:)``.
    public func unlockEntries(passphrase: String) throws(KeyFileError) -> [String: KeyFileEntry] {
        try KeyFileFormat.open(parsed, passphrase: passphrase, path: path)
    }

    /// The file's format version (1 for files written before keys recorded their hosts).
    public var version: Int { parsed.version }
}

/// `read(2)`, which ``KeyFile/read(passphrase:)`` hides inside the type.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.read(fd, buffer, count)
    #else
        Darwin.read(fd, buffer, count)
    #endif
}

/// `write(2)`, which ``KeyFile/write(_:passphrase:)`` hides inside the type.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(fd, buffer, count)
    #else
        Darwin.write(fd, buffer, count)
    #endif
}
