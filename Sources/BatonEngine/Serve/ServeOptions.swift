import Foundation

/// How `baton serve` runs: where it listens, which database it reads, who may ask and what.
public struct ServeOptions: Sendable {
    /// The host to bind: 127.0.0.1 by default; another needs a token.
    public var host: String
    /// The port; 0 picks any free port (the bound one is in ``DashboardServer/port``).
    public var port: Int
    /// The run database the dashboard reads (and the actions pass to `baton resume` and `baton rerun` as `--db`).
    public var databasePath: String
    /// The token every request must carry, nil for none (loopback only).
    public var token: String?
    /// Whether resume, rerun and interrupt may be asked for.
    public var allowActions: Bool
    /// How often the event log is checked for new events.
    public var pollInterval: Duration
    /// The `baton` executable the actions start (`baton resume ID --db PATH`).
    public var batonExecutable: String
    /// Where the actions' output goes, one `RUN.log` per run.
    public var logFolder: String
    /// The environment the actions' processes get.
    public var environment: [String: String]

    /// Creates options; the defaults are `baton serve`'s.
    public init(
        host: String = "127.0.0.1", port: Int = 8420, databasePath: String, token: String? = nil, allowActions: Bool = false,
        pollInterval: Duration = .milliseconds(100), batonExecutable: String = ServeOptions.currentExecutable(),
        logFolder: String = ServeOptions.defaultLogFolder(), environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.token = token
        self.allowActions = allowActions
        self.pollInterval = pollInterval
        self.batonExecutable = batonExecutable
        self.logFolder = logFolder
        self.environment = environment
    }

    /// The fewest characters a token may have.
    public static let minimumTokenLength = 16

    /// Whether `host` is this machine only: 127.0.0.0/8, ::1 or `localhost`.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }

    /// Whether the server is bound to this machine only.
    public var isLoopback: Bool { Self.isLoopback(host) }

    /// Checks the combination before anything is opened: a token's length and characters, and that a host other than
    /// loopback has one.
    public func validate() throws(ServeError) {
        if let token { try Self.checkToken(token) }
        if !isLoopback, token == nil {
            throw ServeError(
                .usage,
                "--host \(host) exposes runs (prompts, outputs) to the network; pass --token or --token-file, or serve on 127.0.0.1")
        }
    }

    /// Refuses an empty token, one under ``minimumTokenLength`` characters, and one a cookie cannot carry.
    public static func checkToken(_ token: String) throws(ServeError) {
        if token.isEmpty { throw ServeError(.usage, "the token is empty; pass at least \(minimumTokenLength) characters") }
        if token.count < minimumTokenLength {
            throw ServeError(
                .usage,
                "the token has \(token.count) characters; pass at least \(minimumTokenLength) (for example: openssl rand -hex 16)")
        }
        // It travels in a cookie and a header: printable ASCII without space, quote, comma, semicolon or backslash.
        let allowed = token.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: ",") && byte != UInt8(ascii: ";")
                && byte != UInt8(ascii: "\\")
        }
        if !allowed {
            throw ServeError(
                .usage,
                "the token holds a space, a quote, a comma, a semicolon, a backslash or a non-ASCII character; use letters and digits")
        }
    }

    /// The token in the file at `path` (its first line, surrounding white space removed).
    ///
    /// - Throws: ``ServeError`` `.notFound` when it cannot be read, `.permission` when group or others may read or
    ///   change it (like key files), `.usage` for a token ``checkToken(_:)`` refuses.
    public static func readToken(file path: String) throws(ServeError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ServeError(.notFound, "the token file '\(path)' cannot be read (\(String(cString: strerror(errno)))); check --token-file")
        }
        let mode = Int(info.st_mode) & 0o777
        guard mode & 0o077 == 0 else {
            throw ServeError(
                .permission,
                "the token file '\(path)' may be read or changed by other users (mode \(String(format: "%04o", mode))), so it is not used; run 'chmod 600 \(path)'"
            )
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServeError(.notFound, "the token file '\(path)' cannot be read; check --token-file and its permissions")
        }
        let token =
            String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        try checkToken(token)
        return token
    }

    /// The running executable (`/proc/self/exe` where there is one, else the first argument).
    public static func currentExecutable() -> String {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
        return CommandLine.arguments.first ?? "baton"
    }

    /// `~/.cache/baton/serve-logs` (`$XDG_CACHE_HOME/baton/serve-logs` when set).
    public static func defaultLogFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let cache =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
        return cache + "/baton/serve-logs"
    }
}

/// Why `baton serve` cannot start; the command maps ``Code`` to an exit status.
public struct ServeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure.
    public enum Code: Sendable, Hashable {
        /// The command line asks for something refused (64).
        case usage
        /// A file it needs is missing or unreadable: the token file, the run database (66).
        case notFound
        /// The token file may be read by others (77).
        case permission
        /// The run database is damaged, newer or unreadable (74).
        case store
        /// The address cannot be bound (71).
        case cannotListen
    }

    /// What kind of failure.
    public var code: Code
    /// A full sentence naming the thing and the fix.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
