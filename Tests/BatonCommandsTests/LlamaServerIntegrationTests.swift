import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// End to end on a real llama-server (router mode, `--models-max 0` so only Baton unloads) with the real
/// Gemma 3 270M model. `scripts/test.sh` builds the server and fetches the model first; set
/// `BATON_SKIP_INTEGRATION=1` to leave these out on a machine without them.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct LlamaServerIntegrationTests {
    /// A temporary folder with a profile for the router at `url` and the given budget.
    struct Workspace {
        let folder: String
        var database: String { folder + "/runs.sqlite" }

        init(url: String, budget: String) throws {
            folder = NSTemporaryDirectory() + "baton-llama-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder + "/profiles", withIntermediateDirectories: true)
            let gemma = try String(contentsOfFile: Fixtures.path("profiles/local-gemma.yaml"), encoding: .utf8)
            let profile = gemma.replacingOccurrences(of: "name: local-gemma", with: "name: test")
                .replacingOccurrences(
                    of: #"memory_budget: 1GB"#, with: "memory_budget: \(budget)")
            precondition(profile.contains("memory_budget: \(budget)"), "local-gemma.yaml no longer sets memory_budget: 1GB")
            try profile.write(toFile: folder + "/profiles/test.yaml", atomically: true, encoding: .utf8)
        }

        func write(_ name: String, _ text: String) throws -> String {
            let path = folder + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func run(_ arguments: [String], url: String, extra: [String: String] = [:]) async throws -> BatonProcess.Result {
            var environment = ["BATON_LLAMA_URL": url, "BATON_DB": database, "BATON_PROFILE_PATH": folder + "/profiles"]
            environment.merge(extra) { _, new in new }
            return try await BatonProcess.run(arguments, environment: environment)
        }

        func store() throws -> RunStore { try RunStore(path: database) }

        func lastRun() throws -> RunRecord {
            try #require(try store().runs().first)
        }

        func events(_ kinds: Set<EventKind>) throws -> [String] {
            let store = try store()
            return try store.events(try lastRun().id).filter { kinds.contains($0.kind) }.map { event in
                let payload = (try? JSONSerialization.jsonObject(with: Data((event.payload ?? "{}").utf8))) as? [String: Any]
                return "\(event.kind == .modelLoaded ? "load" : "unload") \(payload?["model"] as? String ?? "?")"
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    static let loop = """
        version: 1
        name: loop
        inputs:
          topic: {default: tea}
        defaults: {num_ctx: 2048, max_tokens: 24, seed: 7, temperature: 0}
        stages:
          plan:
            role: planner
            prompt: "Write one step for {{inputs.topic}}.{{#feedback}} Reviewer: {{feedback}}{{/feedback}}"
          check:
            role: critic
            reviews: plan
            max_rounds: 3
            on_exhausted: accept
            max_tokens: 256
            prompt: |
              The step below is wrong. Reply with verdict revise.
              {{stages.plan.output}}
        """

    @Test func aShippedPipelineRunsEndToEndOnTheRealModel() async throws {
        try await LlamaRouter.with { router in
            let workspace = try Workspace(url: router.url, budget: "1GB")
            defer { workspace.remove() }

            let result = try await workspace.run(["run", "hello", "--profile", "test"], url: router.url)

            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            #expect(result.stderr.contains("run ") && result.stderr.contains(" completed"))
            let attempts = try workspace.store().attempts(try workspace.lastRun().id).filter { $0.status == .completed }
            #expect(Set(attempts.map(\.stage)) == ["plan", "check", "answer"])
            for attempt in attempts {
                #expect((attempt.outputTokens ?? 0) > 0)
                #expect(attempt.firstTokenAt != nil)
                let timings = try JSONDecoder().decode([String: Double].self, from: Data((attempt.timings ?? "{}").utf8))
                #expect(timings["generation"] != nil && timings["prompt"] != nil, "runtime timings recorded: \(timings)")
            }
        }
    }

    @Test func withRoomForOneModelTheServerNeverHoldsTwoAndLoadsMatchThePlan() async throws {
        try await LlamaRouter.with { router in
            let workspace = try Workspace(url: router.url, budget: "600MB")
            defer { workspace.remove() }
            let pipeline = try workspace.write(
                "three.yaml",
                """
                version: 1
                name: three
                defaults: {num_ctx: 2048, max_tokens: 16, seed: 1, temperature: 0}
                stages:
                  plan: {role: planner, prompt: "Name a fruit."}
                  check: {role: critic, reviews: plan, max_rounds: 1, on_exhausted: accept, max_tokens: 256, prompt: "Is this a fruit? {{stages.plan.output}}"}
                  answer: {role: executor, needs: [check], prompt: "Describe {{stages.plan.output}} in one line."}
                """)

            // Given the plan
            let planned = try await workspace.run(["plan", pipeline, "--profile", "test", "--json"], url: router.url)
            #expect(planned.status == 0, "\(planned.stderr)")
            let plan = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
            var expected: [String] = []
            for step in plan["steps"] as? [[String: Any]] ?? [] {
                expected += (step["unload"] as? [String] ?? []).map { "unload \($0)" }
                if step["load"] as? Bool == true { expected.append("load \(step["runtime"]!):\(step["model"]!)") }
            }
            #expect(
                expected == [
                    "load local:planner", "unload local:planner", "load local:critic", "unload local:critic", "load local:executor",
                ])

            // When it runs while the server is watched
            let watcher = router.watch()
            let result = try await workspace.run(["run", pipeline, "--profile", "test"], url: router.url)
            let states = await watcher.stop()

            // Then
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try workspace.events([.modelLoaded, .modelUnloaded]) == expected)
            let mostResident = states.map { $0.values.filter { $0 == "loaded" || $0 == "loading" }.count }.max() ?? 0
            #expect(mostResident == 1, "states seen: \(states)")
            #expect(states.contains { $0["executor"] == "loaded" })
        }
    }

    @Test func withRoomForTwoModelsACriticLoopNeverSwaps() async throws {
        try await LlamaRouter.with { router in
            let workspace = try Workspace(url: router.url, budget: "1GB")
            defer { workspace.remove() }
            let pipeline = try workspace.write("loop.yaml", Self.loop)

            let watcher = router.watch()
            let result = try await workspace.run(["run", pipeline, "--profile", "test"], url: router.url)
            let states = await watcher.stop()

            #expect(result.status == 0, "\(result.stderr)")
            let attempts = try workspace.store().attempts(try workspace.lastRun().id).filter { $0.status == .completed }
            let rounds = Set(attempts.filter { $0.stage == "check" }.map(\.round)).count
            #expect(rounds >= 2, "the loop should revise at least once (seed 7); verdicts: \(attempts.compactMap(\.verdict))")
            #expect(try workspace.events([.modelLoaded, .modelUnloaded]) == ["load local:planner", "load local:critic"])
            #expect(!states.contains { $0["planner"] == "unloaded" && $0["critic"] == "loaded" }, "\(states)")
        }
    }

    @Test func killedMidStreamAndResumedRepeatsNoCompletedAttempt() async throws {
        try await LlamaRouter.with { router in
            let workspace = try Workspace(url: router.url, budget: "1GB")
            defer { workspace.remove() }
            let pipeline = try workspace.write("loop.yaml", Self.loop)

            // The 40th token overall falls inside the critic's first answer.
            let killed = try await workspace.run(
                ["run", pipeline, "--profile", "test"], url: router.url, extra: ["BATON_TEST_KILL_AT": "token:40"])
            #expect(killed.status == 137 || killed.status == 9 || killed.status > 128, "killed: \(killed.status)")
            let run = try workspace.lastRun()
            let before = try workspace.store().attempts(run.id)
            let completedBefore = before.filter { $0.status == .completed }
            #expect(!completedBefore.isEmpty && before.contains { $0.status == .running })

            let resumed = try await workspace.run(["resume", run.id], url: router.url)

            #expect(resumed.status == 0, "\(resumed.stderr)")
            let after = try workspace.store().attempts(run.id)
            // Completed attempts are untouched and no (stage, round) was completed twice.
            for attempt in completedBefore {
                #expect(after.first { $0.id == attempt.id } == attempt)
            }
            let completed = after.filter { $0.status == .completed }.map { "\($0.stage)#\($0.round)" }
            #expect(completed.count == Set(completed).count, "\(completed)")
            #expect(after.contains { $0.status == .aborted })
            #expect(try workspace.store().integrityCheck() == "ok")
        }
    }

    @Test func aServerKilledMidStreamFailsTheStageClearlyAndResumeSucceedsOnceItIsBack() async throws {
        try await LlamaRouter.with { router in
            let port = router.port
            let state = router.stateDirectory
            let workspace = try Workspace(url: router.url, budget: "1GB")
            defer { workspace.remove() }
            let pipeline = try workspace.write(
                "long.yaml",
                """
                version: 1
                name: long
                defaults: {num_ctx: 2048, seed: 3, temperature: 0, retry: {max_attempts: 2, initial_backoff: 200ms, max_backoff: 1s}}
                stages:
                  plan: {role: planner, max_tokens: 8, prompt: "Say hello."}
                  write: {role: executor, max_tokens: 400, prompt: "Write a long story about {{stages.plan.output}}"}
                """)

            // Start the run in the background and kill the server once 'write' has streamed some tokens.
            let running = try BatonProcess.start(
                ["run", pipeline, "--profile", "test"],
                environment: [
                    "BATON_LLAMA_URL": router.url, "BATON_DB": workspace.database,
                    "BATON_PROFILE_PATH": workspace.folder + "/profiles", "BATON_PROGRESS_INTERVAL": "0",
                ])
            var streaming = false
            for _ in 0..<1500 where !streaming {
                try await Task.sleep(for: .milliseconds(20))
                if let store = try? workspace.store(), let run = try? store.runs().first,
                    let attempts = try? store.attempts(run.id)
                {
                    streaming = attempts.contains { $0.stage == "write" && $0.status == .running && !$0.output.isEmpty }
                }
            }
            #expect(streaming, "the 'write' stage never streamed")
            await router.kill()
            let result = await running.wait()
            let stderr = result.stderr

            #expect(result.status == 69, "exit \(result.status): \(stderr)")
            #expect(stderr.contains("stage 'write' failed after 2 tries"), "\(stderr)")
            #expect(stderr.contains("baton resume"))

            // The server comes back on the same port; resume finishes the run. Its state folder is named here, so the
            // router does not remove it: the test does.
            defer { try? FileManager.default.removeItem(atPath: state + "-again") }
            try await LlamaRouter.with(port: port, stateDirectory: state + "-again") { router in
                let run = try workspace.lastRun()
                let resumed = try await workspace.run(["resume", run.id], url: router.url)
                #expect(resumed.status == 0, "\(resumed.stderr)")
                let attempts = try workspace.store().attempts(run.id)
                #expect(attempts.filter { $0.stage == "plan" }.count == 1, "plan completed before the crash and must not run again")
                #expect(attempts.last?.stage == "write" && attempts.last?.status == .completed)
            }
        }
    }

    @Test func aRouterRunsOnlyTheBranchItsGrammarConstrainedAnswerPicksAndLoadsAsPlanned() async throws {
        try await LlamaRouter.with { router in
            // Room for one model: each branch's stage is on a model of its own, so a load shows which branch ran.
            let workspace = try Workspace(url: router.url, budget: "600MB")
            defer { workspace.remove() }
            let pipeline = try workspace.write(
                "route.yaml",
                """
                version: 1
                name: route
                inputs:
                  item: {default: an apple}
                defaults: {num_ctx: 2048, max_tokens: 16, seed: 1, temperature: 0}
                stages:
                  classify:
                    role: planner
                    max_tokens: 48
                    output:
                      format: json
                      schema: {type: object, properties: {kind: {type: string, enum: [fruit, vegetable]}}, required: [kind], additionalProperties: false}
                    prompt: "Is {{inputs.item}} a fruit or a vegetable? Answer with JSON."
                    route:
                      on: kind
                      cases: {fruit: fruit_note, vegetable: vegetable_note}
                  fruit_note: {role: executor, prompt: "Describe {{inputs.item}} as a fruit in one line."}
                  vegetable_note: {role: critic, prompt: "Describe {{inputs.item}} as a vegetable in one line."}
                """)

            // Given the plan of each branch
            let planned = try await workspace.run(["plan", pipeline, "--profile", "test", "--json"], url: router.url)
            #expect(planned.status == 0, "\(planned.stderr)")
            let plan = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
            let branches = try #require(plan["branches"] as? [[String: Any]])
            #expect(branches.compactMap { $0["branch"] as? String } == ["fruit", "vegetable"])

            // When it runs while the server is watched
            let watcher = router.watch()
            let result = try await workspace.run(["run", pipeline, "--profile", "test"], url: router.url)
            let states = await watcher.stop()

            // Then the model's JSON (constrained by the schema's grammar) chose a branch, which alone ran
            #expect(result.status == 0, "\(result.stderr)")
            let run = try workspace.lastRun()
            let store = try workspace.store()
            let chosen = try #require(try store.events(run.id).first { $0.kind == .routeChosen })
            let payload = try #require(try JSONSerialization.jsonObject(with: Data((chosen.payload ?? "{}").utf8)) as? [String: Any])
            let branch = try #require(payload["branch"] as? String)
            let ran = branch == "fruit" ? "fruit_note" : "vegetable_note"
            let other = branch == "fruit" ? "vegetable_note" : "fruit_note"
            let attempts = try store.attempts(run.id)
            let classify = try #require(attempts.first { $0.stage == "classify" && $0.status == .completed })
            #expect(classify.output.contains("\"\(branch)\""), "the answer names the branch: \(classify.output)")
            #expect(attempts.filter { $0.status == .completed }.map(\.stage) == ["classify", ran])
            #expect(attempts.filter { $0.status == .skipped }.map(\.stage) == [other])

            // And the loads are the plan's for that branch; the other branch's model was never loaded on the server
            let branchPlan = try #require(branches.first { $0["branch"] as? String == branch })
            let expectedLoads = (branchPlan["load_models"] as? [String] ?? []).map { "load \($0)" }
            #expect(try workspace.events([.modelLoaded]) == expectedLoads)
            #expect(try workspace.events([.modelUnloaded]).count == branchPlan["unloads"] as? Int)
            let otherModel = branch == "fruit" ? "critic" : "executor"
            #expect(!states.contains { $0[otherModel] == "loaded" || $0[otherModel] == "loading" }, "\(states)")
            let mostResident = states.map { $0.values.filter { $0 == "loaded" || $0 == "loading" }.count }.max() ?? 0
            #expect(mostResident <= 1, "states seen: \(states)")
        }
    }
}
