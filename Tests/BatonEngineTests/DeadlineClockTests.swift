import Foundation
import Testing

@testable import BatonEngine

/// The one clock behind every stream's stage timeout: what is due fires once, what is forgotten never does, and a
/// deadline added after a later one still fires first.
@Suite struct DeadlineClockTests {
    @Test func dueDeadlinesFireOnceAndForgottenOnesNever() async throws {
        let clock = DeadlineClock()
        let fired = Locked<[String]>([])
        func note(_ name: String) -> @Sendable () -> Void { { fired.withLock { $0.append(name) } } }
        // Given a late deadline armed first, an early one added after it, and one forgotten at once
        _ = clock.after(0.30, note("late"))
        _ = clock.after(0.05, note("early"))
        let forgotten = clock.after(0.10, note("forgotten"))
        clock.forget(forgotten)

        // When all of them are past
        for _ in 0..<100 where fired.current.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(100))

        // Then the early and the late one fired, once each and in order, and the forgotten one did not
        #expect(fired.current == ["early", "late"])
    }
}
