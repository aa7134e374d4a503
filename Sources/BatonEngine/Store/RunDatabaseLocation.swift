import Foundation

/// Where the run database lives: `--db`, else `$BATON_DB`, else `$XDG_STATE_HOME/baton/baton.sqlite`,
/// else `~/.local/state/baton/baton.sqlite`.
public enum RunDatabaseLocation {
    /// The database path for a command-line value and an environment.
    public static func resolve(_ flag: String?, environment: [String: String]) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let path = environment["BATON_DB"], !path.isEmpty { return path }
        let state =
            environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.local/state")
        return "\(state)/baton/baton.sqlite"
    }
}
