import Foundation

/// A list that several tasks append to (an executor's observer, its fake sleep) and a test reads afterwards.
public final class LockedList<Element: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var elements: [Element] = []

    /// An empty list.
    public init() {}

    /// Adds `element` at the end.
    public func append(_ element: Element) {
        lock.withLock { elements.append(element) }
    }

    /// Everything appended so far, in order.
    public var values: [Element] { lock.withLock { elements } }
}
