/// Did-you-mean suggestions by edit distance.
package enum Suggestion {
    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    package static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let lowered = word.lowercased()
        // Misspellings whose nearest key by edit distance is not the one meant: 'retries' is two edits from 'retrieve'
        // (a stage kind) and three from 'retry', which is what a user writing it wants.
        if let meant = knownMisspellings[lowered], candidates.contains(meant) { return meant }
        var best: (candidate: String, distance: Int, prefix: Int)?
        for candidate in candidates {
            let distance = candidate.lowercased() == lowered ? 0 : editDistance(lowered, candidate.lowercased())
            let prefix = zip(lowered, candidate.lowercased()).prefix { $0 == $1 }.count
            // Ties go to the candidate sharing the longer prefix: 'retries' is closer to 'retry' than to 'reviews'.
            if let current = best, distance > current.distance || (distance == current.distance && prefix <= current.prefix) {
                continue
            }
            best = (candidate, distance, prefix)
        }
        guard let best else { return nil }
        let length = max(word.count, best.candidate.count)
        let limit = length <= 2 ? 0 : length <= 4 ? 1 : length <= 6 ? 2 : 3
        return best.distance <= limit ? best.candidate : nil
    }

    /// Words that mean a key other than the nearest one by edit distance.
    static let knownMisspellings = ["retries": "retry", "retrys": "retry", "retires": "retry", "retrying": "retry"]

    /// Levenshtein distance with adjacent transpositions counted as one edit.
    package static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previousPrevious[j - 2] + 1)
                }
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}
