import Foundation
import Logging
import SystemPackage

/// What is known about a server process from outside the SDK: whether it exited, whether it broke the protocol,
/// and its last stderr lines.
final class ServerWatch: Sendable {
    /// Fired with a reason when the process exits, closes its stdout or writes something that is not an MCP message.
    let failure = OneShot<String>()
    /// Fired with its exit status once swift-subprocess reported the process's exit (it is reaped then).
    let exited = OneShot<String>()
    /// Fired when the server's stderr reached end of file.
    let stderrClosed = OneShot<Bool>()
    private let lines = Locked<[String]>([])
    private static let tailLength = 20

    init() {}

    /// The last lines the server wrote to stderr.
    var tail: [String] { lines.current }

    /// The stderr tail once the server's last lines were read (a dead server's stderr closes right after it exits).
    func finalTail() async -> [String] {
        if exited.value != nil { _ = await stderrClosed.wait(upTo: .milliseconds(500)) }
        return tail
    }

    /// Records the process's exit: every request waiting on the server fails with `reason`.
    func processExited(_ reason: String) {
        exited.fire(reason)
        failure.fire(reason)
    }

    /// The server's stdout ended: its exit, which follows at once when it died, says more than the closed pipe.
    func stdoutClosed() {
        Task.detached { [self] in
            if await !exited.wait(upTo: .seconds(1)) { failure.fire("closed its stdout") }
        }
    }

    /// Reads stderr line by line, keeping the tail and handing each line to `onLine`.
    func readStderr(_ descriptor: FileDescriptor, onLine: @escaping @Sendable (String) -> Void) {
        let reader = PipeLineReader(
            descriptor: descriptor, name: "baton-mcp-stderr",
            onLine: { [lines] bytes in
                let line = String(decoding: bytes, as: UTF8.self)
                lines.withLock {
                    $0.append(line)
                    if $0.count > Self.tailLength { $0.removeFirst($0.count - Self.tailLength) }
                }
                onLine(line)
            },
            onEnd: { [stderrClosed] in stderrClosed.fire(true) })
        reader.start()
    }
}

/// A value set once that tasks can wait for; a waiting task that is cancelled gets nil instead of hanging.
final class OneShot<T: Sendable>: Sendable {
    private struct State {
        var value: T?
        var waiters: [UInt64: CheckedContinuation<T?, Never>] = [:]
        var cancelled: Set<UInt64> = []
        var next: UInt64 = 0
    }
    private let state = Locked(State())

    init() {}

    /// The value, if it was set.
    var value: T? { state.withLock { $0.value } }

    /// Sets the value (the first call wins) and wakes every waiter.
    func fire(_ value: T) {
        let waiters = state.withLock { state -> [CheckedContinuation<T?, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value once set, or nil when the waiting task is cancelled first.
    func wait() async -> T? {
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                let ready = state.withLock { state -> T?? in
                    if let value = state.value { return .some(value) }
                    if state.cancelled.remove(id) != nil { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if case .some(let value) = ready { continuation.resume(returning: value) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<T?, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Whether the value was set within `timeout`.
    func wait(upTo timeout: Duration) async -> Bool {
        if value != nil { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait() != nil }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || value != nil
        }
    }
}

/// Turns the SDK's warning about a stdout line that is no MCP message into a failure of the connection: the
/// stdio transport forbids anything else on stdout, and a client that ignored it would wait for a reply forever.
struct ProtocolViolationHandler: LogHandler {
    let onViolation: @Sendable (String) -> Void
    var metadata: Logging.Logger.Metadata = [:]
    var metadataProvider: Logging.Logger.MetadataProvider?
    var logLevel: Logging.Logger.Level = .warning

    init(onViolation: @escaping @Sendable (String) -> Void) {
        self.onViolation = onViolation
    }

    subscript(metadataKey key: String) -> Logging.Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard event.level >= .warning, event.message.description.hasPrefix("Unexpected message") else { return }
        let line = event.metadata?["message"].map { "\($0)" } ?? "?"
        onViolation("wrote to stdout a line that is not an MCP message: \(line.prefix(200))")
    }
}
