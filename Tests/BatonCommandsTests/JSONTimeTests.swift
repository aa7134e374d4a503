import BatonTestSupport
import Foundation
import Testing

/// Every JSON output gives times as RFC 3339 in UTC with fractional seconds, not epoch seconds; the
/// documents whose time fields changed carry `"format_version": 2`.
@Suite struct JSONTimeTests {
    /// `2026-12-06T18:50:16.123Z`.
    static func isRFC3339(_ value: Any?) -> Bool {
        guard let text = value as? String else { return false }
        return text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil
    }

    /// Every value under a time field in `value`, with its path.
    static func times(in value: Any, path: String = "") -> [(String, Any)] {
        let fields: Set<String> = ["at", "created_at", "updated_at", "finished_at", "started_at", "first_token_at", "lease_heartbeat"]
        if let object = value as? [String: Any] {
            return object.sorted { $0.key < $1.key }.flatMap { key, inner in
                fields.contains(key) && !(inner is NSNull) ? [("\(path).\(key)", inner)] : times(in: inner, path: "\(path).\(key)")
            }
        }
        if let array = value as? [Any] { return array.enumerated().flatMap { times(in: $1, path: "\(path)[\($0)]") } }
        return []
    }

    @Test func runsShowAndRunEventsGiveRFC3339Times() async throws {
        // Given a completed run, its events read as JSON lines
        let sandbox = try RunSandbox("json-time")
        let before = Date()
        let run = try await sandbox.baton(RunSandbox.runArguments + ["--json"])
        #expect(run.status == 0, "\(run.summary)")
        let events = run.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(events.count > 5)
        #expect(events.allSatisfy { Self.isRFC3339($0["at"]) }, "\(run.stdout.prefix(400))")

        // When the runs and the run are read as JSON
        let runs = try await sandbox.baton(["runs", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
        let id = try #require(rows.first?["id"] as? String)
        let show = try await sandbox.baton(["show", id, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])

        // Then every time is an RFC 3339 string, each document says its version, and the times are this run's
        #expect(rows.allSatisfy { Self.isRFC3339($0["created_at"]) && Self.isRFC3339($0["finished_at"]) }, "\(runs.stdout)")
        #expect(rows.allSatisfy { $0["format_version"] as? Int == 2 })
        #expect(document["format_version"] as? Int == 2)
        let times = Self.times(in: document)
        #expect(times.count > 10)
        let wrong = times.filter { !Self.isRFC3339($0.1) }
        #expect(wrong.isEmpty, "\(wrong)")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let created = try #require(formatter.date(from: rows.first?["created_at"] as? String ?? ""))
        #expect(abs(created.timeIntervalSince(before)) < 120)
    }
}
