import ArgumentParser
import BatonEngine
import Foundation

extension BatonCommand {
    /// `baton stats`: how each model has done in each role, from the run database.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what past runs say per model and role: calls, failures, fallbacks, tokens, speed, load times, memory.",
            discussion: """
                Reads the run database only. Speeds come from the runtimes' own timings (llama-server's `timings`, \
                Ollama's durations); a model whose runtime gave none is measured from first token to finish and \
                marked. Peak memory is the largest footprint a runtime measured when it loaded the model. Attempts \
                on the echo runtime are left out unless --include-echo is given; runs of 'baton test --replay', \
                answered from recordings, always are. See docs/stats.md.
                """)

        @Option(help: "Only runs that used this profile (the profile named at the start of the run, not one it extends).")
        var profile: String?

        @Option(
            help:
                "Only what happened since a date (2026-12-01, midnight UTC), a time (2026-12-01T08:00:00Z) or a duration ago (7d, 24h, 30m, 2w)."
        )
        var since: String?

        @Flag(help: "Count attempts on the echo runtime too (`--runtime echo` runs, `baton test`).")
        var includeEcho = false

        @Flag(help: "Print JSON.")
        var json = false

        @OptionGroup var database: DatabaseOption

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            var query = StatsQuery(profile: profile, includeEcho: includeEcho)
            if let since {
                guard let time = StatsSince.parse(since, now: Date().timeIntervalSince1970) else {
                    Console.error(
                        "error: --since '\(since)' is neither a date (2026-12-01), a time (2026-12-01T08:00:00Z) nor a duration (7d, 24h, 30m)"
                    )
                    throw ExitCode(BatonExitCode.usage)
                }
                query.since = time
            }
            let report: StatsReport
            do {
                let store = try RunStore.forReading(path: database.path(environment: environment))
                report = try store.stats(query)
            } catch {
                throw RunSession.fail(error)
            }
            if json {
                Console.out(try StatsFormatter.json(report, query: query))
                return
            }
            guard !report.rows.isEmpty else {
                var scope: [String] = []
                if let profile { scope.append("with profile \(profile)") }
                if let since { scope.append("since \(since)") }
                let echo = includeEcho ? "" : " (echo runtime left out: --include-echo counts it)"
                Console.error("no model calls recorded\(scope.isEmpty ? "" : " " + scope.joined(separator: " "))\(echo)")
                return
            }
            Console.out(StatsFormatter.text(report, query: query), terminator: "")
        }
    }
}
