import BatonEngine
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Calls `handler` with 1, 2, ... for each SIGINT or SIGTERM while it exists.
///
/// The signals are caught by a C handler installed when the trap is made, which only writes a byte to a pipe; a thread
/// of its own reads the pipe and calls `handler`. A dispatch signal source (what this used before) is registered later,
/// on dispatch's own threads, while the signal is already ignored: when those threads were slow (a loaded CI machine),
/// a Ctrl-C that came in that gap was lost and the run went on. Nothing here waits on dispatch or the cooperative pool.
final class SignalTrap: @unchecked Sendable {
    /// This trap's count of signals; a trap that was cancelled is no longer called.
    private let count = Locked(0)

    init(_ handler: @escaping @Sendable (Int) -> Void) {
        SignalPipe.start()
        let count = self.count
        SignalPipe.current.withLock { current in
            current = {
                let value = count.withLock { value in
                    value += 1
                    return value
                }
                handler(value)
            }
        }
        signal(SIGINT, signalPipeHandler)
        signal(SIGTERM, signalPipeHandler)
    }

    /// Stops trapping; from now on a signal exits 130 at once.
    func cancel() {
        SignalPipe.current.withLock { $0 = nil }
        // The run is over but the process may still be printing: a late Ctrl-C exits 130 at once, as a
        // second one would, instead of dying of the signal.
        signal(SIGINT) { _ in _exit(130) }
        signal(SIGTERM) { _ in _exit(130) }
    }
}

/// The C signal handler: async-signal-safe, it only writes one byte to the pipe (a full pipe drops it, which loses
/// nothing: a byte already waiting will call the handler).
private func signalPipeHandler(_ signal: Int32) {
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(SignalPipe.writeEnd, &byte, 1)
}

/// The process's one signal pipe and the thread that reads it.
private enum SignalPipe {
    /// The pipe's write end; set once by ``start()`` before any handler is installed.
    nonisolated(unsafe) static var writeEnd: Int32 = -1
    /// The handler of the trap in force, if any.
    static let current = Locked<(@Sendable () -> Void)?>(nil)
    private static let started = Locked(false)

    /// Makes the pipe and starts its reader, once per process.
    static func start() {
        let first = started.withLock { started in
            defer { started = true }
            return !started
        }
        guard first else { return }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        writeEnd = ends[1]
        let readEnd = ends[0]
        let reader = Thread {
            var byte: UInt8 = 0
            while true {
                let got = read(readEnd, &byte, 1)
                if got == 1 {
                    current.withLock { $0 }?()
                } else if got < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        reader.name = "baton-signals"
        reader.start()
    }
}
