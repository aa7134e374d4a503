import Foundation

/// A test hook that kills the process (SIGKILL, no cleanup) at the n-th time it passes a named point,
/// so crash tests can stop `baton` at exact places: inside a commit, mid-stream, between stages.
///
/// The command layer builds it from `BATON_TEST_KILL_AT=POINT:N` (for example `attempt-finish-commit:3`);
/// without that variable there is no kill switch and `hit` is never called. Points:
/// `render`, `attempt-start-commit`, `token`, `progress-commit`, `attempt-finish-commit`, `verdict`,
/// `stage-done`, `status-commit`.
public final class KillSwitch: @unchecked Sendable {
    /// Every point the engine reports.
    public static let points = [
        "render", "attempt-start-commit", "token", "progress-commit", "attempt-finish-commit", "verdict", "stage-done",
        "status-commit",
    ]

    private let point: String
    private let count: Int
    private let lock = NSLock()
    private var seen = 0

    /// A switch for `POINT:N`, or nil when the text is not of that form.
    public init?(specification: String) {
        let parts = specification.split(separator: ":")
        guard parts.count == 2, let count = Int(parts[1]), count > 0, Self.points.contains(String(parts[0])) else { return nil }
        self.point = String(parts[0])
        self.count = count
    }

    /// Kills the process if this is the chosen passage of the chosen point.
    public func hit(_ name: String) {
        guard name == point else { return }
        lock.lock()
        seen += 1
        let now = seen
        lock.unlock()
        if now == count {
            kill(getpid(), SIGKILL)
            while true { pause() }
        }
    }
}
