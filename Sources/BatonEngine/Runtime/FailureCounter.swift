/// Counts calls by key across concurrent requests: how often a scripted echo failure has fired.
final class FailureCounter: Sendable {
    private let counts = Locked<[String: Int]>([:])

    /// Counts one more call of `key` and returns the calls counted so far.
    func increment(_ key: String) -> Int {
        counts.withLock { counts in
            counts[key, default: 0] += 1
            return counts[key, default: 0]
        }
    }
}
