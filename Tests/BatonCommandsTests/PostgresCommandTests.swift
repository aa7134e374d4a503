import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// The real `baton` binary on a PostgreSQL run store (`BATON_DB=postgres://...`): run, runs, show, resume, stats work
/// as on SQLite, and a server that is down is a store failure (exit 74) naming the server.
@Suite(.enabled(if: PostgresTestDatabase.serverURL != nil, Comment(rawValue: PostgresTestDatabase.skipReason)))
struct PostgresCommandTests {
    /// A sandbox whose commands use a fresh PostgreSQL database.
    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_DB"] = try #require(try PostgresTestDatabase.fresh())
        return sandbox
    }

    /// The run's status, from `baton show --format json`.
    static func status(_ sandbox: RunSandbox, _ id: String) async throws -> String? {
        (try await sandbox.show(id)["run"] as? [String: Any])?["status"] as? String
    }

    @Test func aRunIsListedShownAndCountedFromPostgreSQL() async throws {
        let sandbox = try Self.sandbox("pg-run")
        let result = try await sandbox.runPipeline()
        #expect(result.status == 0, "\(result.summary)")
        let id = try await sandbox.onlyRunID()
        #expect(try await Self.status(sandbox, id) == "completed")
        let text = try await sandbox.baton(["show", id])
        #expect(text.status == 0 && text.stdout.contains(id), "\(text.summary)")
        let runs = try await sandbox.baton(["runs"])
        #expect(runs.status == 0 && runs.stdout.contains(id) && runs.stdout.contains("completed"), "\(runs.summary)")
        let stats = try await sandbox.baton(["stats", "--include-echo", "--json"])
        #expect(stats.status == 0, "\(stats.summary)")
        let report = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        #expect((report?["rows"] as? [Any])?.isEmpty == false, "\(stats.stdout)")
        // The same database given with --db instead.
        let database = try #require(sandbox.environment["BATON_DB"])
        let listed = try await sandbox.baton(["runs", "--json", "--db", database], ["BATON_DB": sandbox.folder + "/unused.sqlite"])
        #expect(listed.status == 0 && listed.stdout.contains(id), "\(listed.summary)")
    }

    @Test func aShippedPipelineRunsOnTheEchoProfile() async throws {
        let sandbox = try Self.sandbox("pg-shipped")
        let result = try await sandbox.baton(
            ["run", Fixtures.path("pipelines/essay.yaml"), "--profile", "ci", "--input", "topic=trees"])
        #expect(result.status == 0, "\(result.summary)")
        let id = try await sandbox.onlyRunID()
        #expect(try await Self.status(sandbox, id) == "completed")
    }

    @Test func aKilledRunResumesFromPostgreSQLWithoutRepeatingCompletedWork() async throws {
        let sandbox = try Self.sandbox("pg-resume")
        let killed = try await sandbox.runPipeline(["BATON_TEST_KILL_AT": "token:30"])  // plan#2, its 10th token
        #expect(killed.signal == SIGKILL, "\(killed.summary)")
        let id = try await sandbox.onlyRunID()
        let callsBefore = sandbox.calls()
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(resumed.stderr.contains("reused"), "\(resumed.stderr)")
        #expect(try await Self.status(sandbox, id) == "completed")
        // Every stage round the killed process completed was not asked again.
        let again = sandbox.calls().dropFirst(callsBefore.count)
        let completedBefore = Set(callsBefore.dropLast())
        #expect(completedBefore.isDisjoint(with: again), "asked again: \(completedBefore.intersection(again))")
    }

    @Test func aServerThatIsDownExits74NamingIt() async throws {
        let sandbox = try RunSandbox("pg-down")
        let port = try #require(
            Int(
                try await Tools.run(
                    "/usr/bin/python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"]
                ).output.trimmingCharacters(in: .whitespacesAndNewlines)))
        let url = "postgres://baton:secret-pw@127.0.0.1:\(port)/baton"
        for command in [["runs"], ["show", "20990101-000000-beef"], RunSandbox.runArguments] {
            let result = try await sandbox.baton(command, ["BATON_DB": url])
            #expect(result.signal == nil && result.status == 74, "\(command): \(result.summary)")
            #expect(result.stderr.contains("postgres://baton@127.0.0.1:\(port)/baton"), "\(result.summary)")
            #expect(result.stderr.contains("cannot be reached") && !result.stderr.contains("secret-pw"), "\(result.summary)")
        }
    }
}
