import BatonSpec
import Crypto
import Foundation

/// What a tool call gets from Baton: its whole environment (nothing inherited, so API keys never reach a tool), its
/// working folder, its idempotency key, and whether the profile allows its executable.
public enum ToolEnvironment {
    /// The PATH and LANG every tool call gets (`run` stages and MCP servers alike).
    public static let base = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"]

    /// The environment of one call: ``base``, `BATON_RUN_ID`, `BATON_STAGE`, `BATON_IDEMPOTENCY_KEY`, then the stage's
    /// own `env:` (which may replace PATH or LANG but not Baton's three).
    public static func environment(runID: String, stage: String, idempotencyKey: String, extra: [String: String]) -> [String: String] {
        var environment = base.merging(extra) { $1 }
        environment["BATON_RUN_ID"] = runID
        environment["BATON_STAGE"] = stage
        environment["BATON_IDEMPOTENCY_KEY"] = idempotencyKey
        return environment
    }

    /// The run's scratch folder, `STATE/runs/RUN/work` where STATE is the folder of the run database (a temporary
    /// folder for an in-memory store), created 0700 on first use.
    ///
    /// - Throws: a `StageFailure`-ready message when it cannot be created.
    public static func workFolder(runID: String, databasePath: String?) throws -> String {
        let state = databasePath.map { ($0 as NSString).deletingLastPathComponent } ?? (NSTemporaryDirectory() + "baton-memory")
        let folder = (state.isEmpty ? "." : state) + "/runs/\(runID)/work"
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue { return folder }
        // Each level is created 0700: a run's files are no one else's business.
        try FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return folder
    }

    /// The idempotency key of a call: the first 32 hex digits of SHA-256 over its place (run, stage, item, round,
    /// turn, call index) and its canonical arguments, so the same call at the same place always has the same key.
    public static func idempotencyKey(
        runID: String, stage: String, item: Int?, round: Int, turn: Int, callIndex: Int, arguments: String
    ) -> String {
        // NUL separators: no field can run into the next.
        let fields = [runID, stage, item.map(String.init) ?? "", String(round), String(turn), String(callIndex), arguments]
        let digest = SHA256.hash(data: Data(fields.joined(separator: "\u{0}").utf8))
        return digest.map { String(format: "%02x", $0) }.joined().prefix(32).description
    }

    /// Whether `executable` (argv[0] as rendered, or `/bin/sh` for `shell: true`) is on `policy`'s `allow` list, by the
    /// rule validation applies (``ToolPolicy/allows(_:)``: names and paths compare as written). No policy allows nothing.
    public static func isAllowed(_ executable: String, by policy: ToolPolicy?) -> Bool {
        policy?.allows(executable) ?? false
    }

    /// The refusal of an executable the profile does not allow, in the words of the `tool-not-allowed` diagnostic.
    public static func notAllowedMessage(stage: String, executable: String, profile: String?) -> String {
        let name = executable.hasPrefix("/") ? executable : (executable as NSString).lastPathComponent
        let where_ = profile.map { "profile '\($0)'" } ?? "the run's profile"
        return "stage '\(stage)' runs '\(executable)', which \(where_) does not allow (a profile allows only the executables "
            + "its tools.allow lists); add \(name) to tools.allow in \(where_)"
    }

    /// `argv` as a shell would need it typed: each argument quoted when it is not plain.
    public static func shellQuoted(_ argv: [String]) -> String {
        argv.map { argument in
            let plain = !argument.isEmpty && argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
            return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}
