import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Replaces a small file of the user's configuration (trusted folders, key hosts) atomically and privately.
enum PrivateFile {
    /// Writes `bytes` to a temporary file beside `path` (mode 0600, `O_EXCL|O_NOFOLLOW`), syncs it and renames it over
    /// `path`, creating missing folders 0700; a failure leaves `path` as it was and no temporary behind.
    ///
    /// - Returns: nil on success, else why it failed (the system's words, or the folder that cannot be created).
    static func replace(_ path: String, with bytes: [UInt8]) -> String? {
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            return "the folder \(folder) cannot be created"
        }
        let name = (path as NSString).lastPathComponent
        let temporary = "\(folder)/.\(name).\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        var failure: String?
        if fchmod(fd, 0o600) != 0 { failure = String(cString: strerror(errno)) }
        var offset = 0
        while failure == nil, offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
            } else {
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if failure != nil { unlink(temporary) }
        return failure
    }
}

/// `write(2)`, which the enum's name lookup would otherwise not reach from inside a closure.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(fd, buffer, count)
    #else
        Darwin.write(fd, buffer, count)
    #endif
}
