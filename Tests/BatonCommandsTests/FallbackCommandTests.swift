import BatonTestSupport
import Foundation
import Testing

/// Fallback chains through the real binary: a runtime that is down and a cloud runtime without a key
/// each hand their stage to the next model, and the run says so while running, in `show` and in JSON.
@Suite struct FallbackCommandTests {
    static let folder = Fixtures.path("Tests/BatonCommandsTests/Fixtures/fallback")

    func sandbox() throws -> RunSandbox {
        let sandbox = try RunSandbox("fallback")
        sandbox.environment["BATON_PROFILE_PATH"] = Self.folder
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        return sandbox
    }

    @Test func aDownRuntimeAndAMissingKeyFallBackVisibly() async throws {
        // Given
        let sandbox = try sandbox()

        // When
        let run = try await sandbox.baton(["run", Self.folder + "/fallback.yaml", "--profile", "down"])

        // Then the run completes on the echo model, and stderr names each move and why
        #expect(run.status == 0, "\(run.summary)")
        #expect(run.stderr.contains("↪ plan: down:llama3.2 runtime unreachable; falling back to echo:tiny"), "\(run.stderr)")
        #expect(run.stderr.contains("↪ write: cloud:claude-test runtime not usable; falling back to echo:tiny"), "\(run.stderr)")
        #expect(run.stdout.contains("[tiny] write round 1"))

        // And show lists both fallbacks and the attempts on each model
        let id = try #require(try await sandbox.runIDs().first)
        let show = try await sandbox.baton(["show", id])
        #expect(show.status == 0)
        #expect(show.stdout.contains("fallback (stage plan): down:llama3.2 → echo:tiny, runtime unreachable"), "\(show.stdout)")
        #expect(show.stdout.contains("fallback (stage write): cloud:claude-test → echo:tiny, runtime not usable"))
        #expect(show.stdout.contains("plan round 1 try 1 · completed · tiny"))

        // And the load on the runtime that is down was retried (max_attempts: 2) before falling back
        let json = try await sandbox.baton(["show", id, "--format", "json"])
        #expect(json.stdout.components(separatedBy: "\"kind\" : \"retry\"").count - 1 == 1, "\(json.stdout)")
    }

    @Test func jsonEventsCarryEachFallback() async throws {
        let sandbox = try sandbox()
        let run = try await sandbox.baton(["run", Self.folder + "/fallback.yaml", "--profile", "down", "--json"])
        #expect(run.status == 0, "\(run.summary)")
        let events = run.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let fallbacks = events.filter { $0["event"] as? String == "model-fallback" }
        #expect(fallbacks.map { $0["stage"] as? String } == ["plan", "write"])
        #expect(fallbacks.map { $0["to"] as? String } == ["echo:tiny", "echo:tiny"])
    }

    @Test func withoutAFallbackTheRuntimeBeingDownExits69() async throws {
        let sandbox = try sandbox()
        let pipeline = sandbox.folder + "/single.yaml"
        try """
        version: 1
        stages:
          plan:
            model: llama3.2
            retry: {max_attempts: 1}
            prompt: Plan.
        """.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let run = try await sandbox.baton(["run", pipeline, "--profile", "down"])
        #expect(run.status == 69, "\(run.summary)")
        #expect(!run.stderr.contains("↪"))
    }
}
