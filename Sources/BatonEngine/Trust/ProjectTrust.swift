import Crypto
import Foundation

/// The folders the user trusts, in `$XDG_CONFIG_HOME/baton/trusted-folders.json` (docs/trust.md).
///
/// Each record holds the folder's real path (symlinks resolved), a SHA-256 over its profile files (the sorted names and
/// bytes of every `.yaml`/`.yml` directly in its `profiles/` folder, so an added, removed or changed profile needs
/// trusting again, as direnv does), when it was trusted and by which Baton version. Only this file, in the user's own
/// configuration folder, grants trust: nothing read from a project folder can.
public struct ProjectTrust: Sendable {
    /// The records file.
    public let file: String

    /// The largest records file read; a bigger one is refused rather than read into memory.
    public static let maximumFileSize = 1 << 20

    /// The store in `configDirectory` (``Workspace/configDirectory``).
    public init(configDirectory: String) {
        file = (configDirectory.hasSuffix("/") ? configDirectory : configDirectory + "/") + "trusted-folders.json"
    }

    /// The store of `workspace`, nil when it has no configuration folder.
    public init?(workspace: Workspace) {
        guard let directory = workspace.configDirectory else { return nil }
        self.init(configDirectory: directory)
    }

    /// One trusted folder.
    public struct Record: Sendable, Hashable, Codable {
        /// The folder's real path.
        public var path: String
        /// SHA-256 (hex) over its profile files, see ``ProjectTrust/profiles(of:)``.
        public var profilesSHA256: String
        /// The profile files hashed, relative to the folder, sorted.
        public var profiles: [String]
        /// When it was trusted, RFC 3339.
        public var trustedAt: String
        /// The Baton version that trusted it.
        public var batonVersion: String

        enum CodingKeys: String, CodingKey {
            case path, profiles
            case profilesSHA256 = "profiles_sha256"
            case trustedAt = "trusted_at"
            case batonVersion = "baton_version"
        }
    }

    /// A folder's profile files and their hash, as a record stores them.
    public struct Profiles: Sendable, Hashable {
        /// The files, relative to the folder (`profiles/default.yaml`), sorted.
        public var files: [String]
        /// SHA-256 (hex) over each file's relative path and bytes, in that order.
        public var sha256: String
    }

    /// How a folder stands.
    public enum Status: Sendable, Hashable {
        /// Trusted, and its profiles are the ones trusted.
        case trusted(Record)
        /// Trusted, but a profile was added, removed or changed since: it needs trusting again.
        case changed(Record)
        /// Not trusted.
        case untrusted
    }

    private struct Document: Codable {
        var formatVersion: Int
        var folders: [Record]

        enum CodingKeys: String, CodingKey {
            case folders
            case formatVersion = "format_version"
        }
    }

    /// The version of the records file this Baton writes and reads.
    public static let formatVersion = 1

    // MARK: - Reading

    /// Every record, in the order they were trusted; none when the file does not exist.
    ///
    /// - Throws: ``ProjectTrustError`` naming the file when it cannot be read, is over the size cap, or is not a
    ///   records file of a known version. Never an empty list in its place: a damaged file trusts nothing.
    public func records() throws(ProjectTrustError) -> [Record] {
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        if let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size]) as? Int, size > Self.maximumFileSize {
            throw .malformed(file: file, reason: "it is \(size) bytes, over the \(Self.maximumFileSize)-byte limit")
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw .unreadable(file: file) }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw .malformed(file: file, reason: "it is not a list of trusted folders (\(Self.reason(error)))")
        }
        guard document.formatVersion == Self.formatVersion else {
            throw .malformed(file: file, reason: "format_version \(document.formatVersion) is not one this Baton reads")
        }
        return document.folders
    }

    /// How the folder at `path` stands now: its record, and whether its profiles still hash the same.
    public func status(of path: String) throws(ProjectTrustError) -> Status {
        let real = Workspace.realPath(path)
        guard let record = try records().first(where: { $0.path == real }) else { return .untrusted }
        return Self.profiles(of: real).sha256 == record.profilesSHA256 ? .trusted(record) : .changed(record)
    }

    /// The profile files of the folder at `path` and their SHA-256: every `.yaml`/`.yml` directly in its `profiles/`
    /// folder (the files the profile search path reads), sorted by name; each contributes its relative path, a NUL, its
    /// byte count, a NUL and its bytes, so moving bytes between files changes the hash.
    public static func profiles(of path: String) -> Profiles {
        let folder = Workspace.realPath(path)
        var hasher = SHA256()
        var files: [String] = []
        for file in Workspace.yamlFiles(in: folder + "/profiles") {
            let relative = "profiles/" + URL(fileURLWithPath: file).lastPathComponent
            // An unreadable file hashes as no bytes plus a marker, so it differs from an empty one.
            let bytes = FileManager.default.contents(atPath: file)
            hasher.update(data: Data("\(relative)\u{0}\(bytes.map { String($0.count) } ?? "unreadable")\u{0}".utf8))
            if let bytes { hasher.update(data: bytes) }
            files.append(relative)
        }
        return Profiles(files: files, sha256: Fingerprints.hex(hasher.finalize()))
    }

    // MARK: - Writing

    /// Trusts the folder at `path` as its profiles are now, replacing an earlier record of it.
    ///
    /// - Returns: the record written.
    /// - Throws: ``ProjectTrustError`` when the folder does not exist or the records cannot be read or written.
    @discardableResult
    public func trust(_ path: String, version: String, now: Date = Date()) throws(ProjectTrustError) -> Record {
        let real = Workspace.realPath(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .notAFolder(path)
        }
        let profiles = Self.profiles(of: real)
        let formatter = ISO8601DateFormatter()
        let record = Record(
            path: real, profilesSHA256: profiles.sha256, profiles: profiles.files, trustedAt: formatter.string(from: now),
            batonVersion: version)
        var all = try records().filter { $0.path != real }
        all.append(record)
        try write(all)
        return record
    }

    /// Removes the record of the folder at `path` (its real path, or the path as recorded, for a folder since deleted).
    ///
    /// - Returns: the record removed, nil when the folder was not trusted.
    @discardableResult
    public func revoke(_ path: String) throws(ProjectTrustError) -> Record? {
        let real = Workspace.realPath(path)
        let all = try records()
        guard let removed = all.first(where: { $0.path == real || $0.path == path }) else { return nil }
        try write(all.filter { $0.path != removed.path })
        return removed
    }

    /// Writes `records` atomically: a temporary file beside the store, mode 0600, renamed over it.
    private func write(_ records: [Record]) throws(ProjectTrustError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(Document(formatVersion: Self.formatVersion, folders: records))
        } catch {
            throw .unwritable(file: file, reason: Self.reason(error))
        }
        if let failure = PrivateFile.replace(file, with: Array(data)) { throw .unwritable(file: file, reason: failure) }
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? DecodingError {
            switch error {
            case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
            @unknown default:
                return "\(error)"
            }
        }
        return (error as NSError).localizedDescription
    }
}

/// Why the trust records could not be used.
public enum ProjectTrustError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The records file is damaged, too large or of an unknown version.
    case malformed(file: String, reason: String)
    /// The records file exists but cannot be read.
    case unreadable(file: String)
    /// The records file cannot be written.
    case unwritable(file: String, reason: String)
    /// The folder to trust does not exist.
    case notAFolder(String)

    public var description: String {
        switch self {
        case .malformed(let file, let reason):
            return "the trust records '\(file)' cannot be used: \(reason); fix or remove the file (removing it untrusts every folder)"
        case .unreadable(let file):
            return "the trust records '\(file)' cannot be read; check its permissions"
        case .unwritable(let file, let reason):
            return "the trust records '\(file)' cannot be written: \(reason)"
        case .notAFolder(let path):
            return "no folder at '\(path)'"
        }
    }
}
