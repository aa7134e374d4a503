import BatonEngine
import Dispatch
import Foundation

/// Calls `handler` with 1, 2, ... for each SIGINT or SIGTERM while it exists.
final class SignalTrap: @unchecked Sendable {
    // Written only in init.
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable (Int) -> Void) {
        let count = Locked(0)
        sources = [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                let current = count.withLock { value in
                    value += 1
                    return value
                }
                handler(current)
            }
            source.resume()
            return source
        }
    }

    /// Stops trapping; from now on a signal exits 130 at once.
    func cancel() {
        for source in sources { source.cancel() }
        // The run is over but the process may still be printing: a late Ctrl-C exits 130 at once, as a
        // second one would, instead of dying of the signal.
        signal(SIGINT) { _ in _exit(130) }
        signal(SIGTERM) { _ in _exit(130) }
    }
}
