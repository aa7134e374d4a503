import Foundation

/// A value that several tasks or threads read and change, guarded by one lock.
///
/// Why not `Synchronization.Mutex`: it needs macOS 15, and Baton supports macOS 14. Every class that
/// hand-rolled an `NSLock` beside its state uses this instead, so the lock and what it guards cannot drift apart.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    /// A lock around `value`.
    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value held exclusively and returns what it returns.
    @discardableResult
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value as it is now.
    public var current: Value {
        withLock { $0 }
    }
}
