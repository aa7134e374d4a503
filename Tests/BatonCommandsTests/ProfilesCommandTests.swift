import BatonTestSupport
import Foundation
import Testing

/// `baton profiles list|show` on the real binary: the search path, the profile in use, and where each
/// resolved value came from across an `extends` chain.
@Suite struct ProfilesCommandTests {
    /// Two profile folders: `first` has top (extends mid) and mid (extends base); `second` has base and
    /// a `mid` that the first folder's hides.
    final class Folders: @unchecked Sendable {
        let root = NSTemporaryDirectory() + "baton-profiles-\(UUID().uuidString.prefix(8))"
        var first: String { root + "/first" }
        var second: String { root + "/second" }

        init() throws {
            for folder in [first, second] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try write(
                "\(second)/base.yaml",
                """
                version: 1
                description: The base.
                memory_budget: 8GB
                runtimes:
                  echo: {kind: echo}
                models:
                  small: {runtime: echo, footprint: 1GB}
                roles:
                  planner:
                    models: [small]
                    temperature: 0.5
                    max_tokens: 100
                defaults:
                  timeout: 5m
                  retry: {max_attempts: 2}
                """)
            try write("\(second)/mid.yaml", "version: 1\ndescription: hidden by the first folder's mid.\n")
            try write(
                "\(first)/mid.yaml",
                """
                version: 1
                extends: base
                roles:
                  planner:
                    temperature: 0.3
                """)
            try write(
                "\(first)/top.yaml",
                """
                version: 1
                description: The top.
                extends: mid
                memory_budget: 4GB
                models:
                  small: {runtime: echo, footprint: 2GB}
                """)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        private func write(_ path: String, _ text: String) throws {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }

        var environment: [String: String] { ["BATON_PROFILE_PATH": "\(first):\(second)"] }

        func baton(_ arguments: [String], _ extra: [String: String] = [:]) async throws -> BatonProcess.Result {
            try await BatonProcess.run(arguments, in: root, environment: environment.merging(extra) { $1 })
        }
    }

    @Test func listShowsTheSearchPathTheProfileInUseAndHiddenNames() async throws {
        let folders = try Folders()
        let list = try await folders.baton(["profiles", "list", "--json"], ["BATON_PROFILE": "top"])
        #expect(list.status == 0, "\(list.summary)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["mid", "top", "base", "mid", "default"])  // the built-in one last
        #expect(rows.filter { $0["in_use"] as? Bool == true }.map { $0["name"] as? String } == ["top"])
        #expect(rows[3]["hidden_by"] as? String == "first/mid.yaml")
        #expect(rows[1]["extends"] as? String == "mid")

        let text = try await folders.baton(["profiles", "list"], ["BATON_PROFILE": "top"])
        #expect(text.stdout.contains("* top"), "\(text.stdout)")
        #expect(text.stdout.contains("hidden by first/mid.yaml"))
    }

    @Test func showResolvesTheChainAndSaysWhereEachValueCameFrom() async throws {
        let folders = try Folders()
        let show = try await folders.baton(["profiles", "show", "top", "--json"])
        #expect(show.status == 0, "\(show.summary)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(object["chain"] as? [String] == ["top", "mid", "base"])
        let values = try #require(object["values"] as? [[String: Any]])
        func origin(_ path: String) -> [String]? {
            values.first { $0["path"] as? String == path }.map {
                ["\($0["value"] ?? "")", "\($0["profile"] ?? "")", "\($0["file"] ?? ""):\($0["line"] ?? "")"]
            }
        }
        // The nearest profile wins key by key; whole entries come from the profile that declares them.
        #expect(origin("memory_budget") == ["4 GB", "top", "first/top.yaml:4"])
        #expect(origin("description") == ["The top.", "top", "first/top.yaml:2"])
        #expect(origin("models.small.footprint") == ["2 GB", "top", "first/top.yaml:6"])
        #expect(origin("roles.planner.temperature") == ["0.3", "mid", "first/mid.yaml:5"])
        #expect(origin("roles.planner.max_tokens") == ["100", "base", "second/base.yaml:12"])
        #expect(origin("roles.planner.models") == ["[small]", "base", "second/base.yaml:10"])
        #expect(origin("defaults.timeout") == ["5m", "base", "second/base.yaml:14"])
        #expect(origin("defaults.retry.max_attempts") == ["2", "base", "second/base.yaml:15"])
        #expect(origin("runtimes.echo.kind") == ["echo", "base", "second/base.yaml:5"])

        let text = try await folders.baton(["profiles", "show", "top"])
        #expect(text.stdout.hasPrefix("profile top: top (first/top.yaml) extends mid (first/mid.yaml) extends base (second/base.yaml)"))
        #expect(text.stdout.contains("roles.planner.temperature: 0.3"))
        #expect(text.stdout.contains("# mid  first/mid.yaml:5"))
    }

    @Test func showTakesBatonProfileAndReportsProblems() async throws {
        let folders = try Folders()
        let fromEnvironment = try await folders.baton(["profiles", "show"], ["BATON_PROFILE": "mid"])
        #expect(fromEnvironment.stdout.hasPrefix("profile mid:"), "\(fromEnvironment.summary)")

        let unknown = try await folders.baton(["profiles", "show", "tpo"])
        #expect(unknown.status == 66)
        #expect(unknown.stderr.contains("did you mean 'top'?"), "\(unknown.stderr)")

        try "version: 1\nextends: nowhere\n".write(toFile: folders.first + "/broken.yaml", atomically: true, encoding: .utf8)
        let broken = try await folders.baton(["profiles", "show", "broken"])
        #expect(broken.status == 65, "\(broken.summary)")
        #expect(broken.stderr.contains("first/broken.yaml:2"), "\(broken.stderr)")
    }
}
