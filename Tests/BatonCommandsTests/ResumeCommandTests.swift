import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton rerun`, `baton resume --use-current-pipeline` / `--dry-run`, and `baton show`'s formats, on
/// the real binary.
@Suite struct ResumeCommandTests {
    /// A sandbox with a completed run of the crash fixture; the call log is emptied afterwards.
    static func completedRun(_ name: String) async throws -> (RunSandbox, String) {
        let sandbox = try RunSandbox(name)
        let result = try await sandbox.runPipeline()
        try #require(result.status == 0, "\(result.summary)")
        sandbox.clearCallLog()
        return await (sandbox, try sandbox.onlyRunID())
    }

    // MARK: - rerun

    @Test func rerunFromAStageReusesEverythingUpstreamOfIt() async throws {
        let baseline = try await Baseline.shared.get()
        let (sandbox, parent) = try await Self.completedRun("rerun")
        let result = try await sandbox.baton(["rerun", parent, "--from", "facts"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout == baseline.stdout)
        // Only facts and report called the runtime.
        #expect(sandbox.calls().map(\.description) == ["facts#1", "report#1"])
        #expect(result.stderr.contains("reused"), "\(result.stderr)")

        let ids = try await sandbox.runIDs()
        #expect(ids.count == 2)
        let child = try #require(ids.first { $0 != parent })
        let shown = try await sandbox.show(child)
        let run = try #require(shown["run"] as? [String: Any])
        #expect(run["parent_run_id"] as? String == parent)
        #expect(run["rerun_from"] as? String == "facts")
        #expect(run["status"] as? String == "completed")
        // The reused attempts are copies in the new run, in the order they ran; the parent run is untouched.
        let attempts = try sandbox.attempts(child)
        #expect(attempts.map { "\($0.stage)#\($0.round)" } == baseline.calls.map(\.description))
        #expect(attempts.allSatisfy { $0.status == .completed })
        #expect(try sandbox.attempts(parent).count == 8)
        let text = try await sandbox.baton(["show", child])
        #expect(text.stdout.contains("rerun of \(parent) from stage 'facts'"), "\(text.stdout)")
        let list = try await sandbox.baton(["runs", "--json"])
        #expect(list.stdout.contains("\"parent_run\" : \"\(parent)\""), "\(list.stdout)")
    }

    /// A rerun that crashes is an ordinary run: resuming it reuses the copied attempts and finishes.
    @Test(arguments: ["render:1", "token:3", "attempt-finish-commit:1", "attempt-start-commit:2", "status-commit:1"])
    func aCrashedRerunResumes(_ kill: String) async throws {
        let baseline = try await Baseline.shared.get()
        let (sandbox, parent) = try await Self.completedRun("rerun-crash")
        let killed = try await sandbox.baton(["rerun", parent, "--from", "facts"], ["BATON_TEST_KILL_AT": kill])
        #expect(killed.signal == SIGKILL, "\(killed.summary)")
        let child = try #require(try await sandbox.runIDs().first { $0 != parent })
        let resumed = try await sandbox.baton(["resume", child])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(resumed.stdout == baseline.stdout)
        // Upstream of facts never ran again; facts and report ran once per attempt row.
        let calls = sandbox.calls()
        #expect(Set(calls.map(\.stage)).isSubset(of: ["facts", "report"]), "\(calls)")
        let attempts = try sandbox.attempts(child)
        for stage in ["facts", "report"] {
            #expect(calls.filter { $0.stage == stage }.count == attempts.filter { $0.stage == stage }.count, "\(stage)")
        }
        #expect(attempts.filter { $0.stage == "plan" || $0.stage == "review" }.map(\.status) == Array(repeating: .completed, count: 6))
        #expect(try sandbox.store().integrityCheck() == "ok")
        #expect(try sandbox.store().run(child).parentRunID == parent)
    }

    @Test func rerunFromAStageInACriticLoopRunsTheWholeLoopAgain() async throws {
        let (sandbox, parent) = try await Self.completedRun("rerun-loop")
        let result = try await sandbox.baton(["rerun", parent, "--from", "review"])
        #expect(result.status == 0, "\(result.summary)")
        // Nothing is upstream of the plan ↔ review loop: everything runs again.
        let baseline = try await Baseline.shared.get()
        #expect(sandbox.calls() == baseline.calls)
    }

    @Test func rerunFromAnUnknownStageExits64() async throws {
        let (sandbox, parent) = try await Self.completedRun("rerun-unknown")
        let result = try await sandbox.baton(["rerun", parent, "--from", "fact"])
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains("run \(parent) has no stage 'fact'; did you mean 'facts'?"), "\(result.stderr)")
        #expect(try await sandbox.runIDs() == [parent])
        #expect(sandbox.calls().isEmpty)
    }

    // MARK: - resume

    @Test func resumingACompletedRunRunsNothing() async throws {
        let (sandbox, id) = try await Self.completedRun("resume-completed")
        let result = try await sandbox.baton(["resume", id])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.contains("run \(id) already completed; 'baton show \(id)' prints it"))
        #expect(sandbox.calls().isEmpty)
    }

    /// The crash fixture copied into the sandbox, so a test can edit it.
    static func copyPipeline(_ sandbox: RunSandbox) throws -> String {
        let path = sandbox.folder + "/crash.yaml"
        try FileManager.default.copyItem(atPath: RunSandbox.pipeline, toPath: path)
        return path
    }

    static func edit(_ path: String, _ old: String, _ new: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try #require(text.contains(old))
        try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `resume --dry-run` output as stage → "reuse" / "run".
    static func decisions(_ output: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("  ") {
            let words = line.split(separator: " ")
            if words.count >= 2 { result[String(words[0])] = String(words[1]) }
        }
        return result
    }

    @Test func useCurrentPipelineRerunsOnlyTheEditedStageAndWhatFollows() async throws {
        let sandbox = try RunSandbox("current-completed")
        let pipeline = try Self.copyPipeline(sandbox)
        let first = try await sandbox.baton(["run", pipeline, "--profile", "ci", "--input", "task=a garden party"])
        #expect(first.status == 0, "\(first.summary)")
        let id = try await sandbox.onlyRunID()
        sandbox.clearCallLog()
        try Self.edit(pipeline, "Extract the facts of this plan", "List the facts of this plan")

        // Without the flag, resume notices the edit and keeps the pinned snapshot.
        let plain = try await sandbox.baton(["resume", id, "--dry-run"])
        #expect(plain.status == 0, "\(plain.summary)")
        #expect(plain.stderr.contains("changed since run \(id) started; resuming the pinned snapshot"), "\(plain.stderr)")
        #expect(Self.decisions(plain.stdout) == ["plan": "reuse", "review": "reuse", "facts": "reuse", "report": "reuse"])

        let dry = try await sandbox.baton(["resume", id, "--dry-run", "--use-current-pipeline"])
        #expect(dry.status == 0, "\(dry.summary)")
        #expect(Self.decisions(dry.stdout) == ["plan": "reuse", "review": "reuse", "facts": "run", "report": "run"], "\(dry.stdout)")
        #expect(dry.stdout.contains("plan    reuse (3 completed rounds)"), "\(dry.stdout)")
        #expect(dry.stdout.contains("superseded by the current pipeline: facts, report"))
        // A dry run changes nothing.
        #expect(sandbox.calls().isEmpty)
        #expect(try sandbox.attempts(id).allSatisfy { $0.status == .completed })

        let resumed = try await sandbox.baton(["resume", id, "--use-current-pipeline"])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(sandbox.calls().map(\.description) == ["facts#1", "report#1"])
        let facts = try sandbox.attempts(id).filter { $0.stage == "facts" }
        #expect(facts.map(\.status) == [.superseded, .completed])
        #expect(facts.last?.prompt.hasPrefix("List the facts of this plan") == true)
        #expect(try sandbox.attempts(id).filter { $0.stage == "report" }.map(\.status) == [.superseded, .completed])

        // The run now pins the edited file: nothing is left to do.
        let after = try await sandbox.baton(["resume", id, "--dry-run"])
        #expect(!after.stderr.contains("changed since"))
        #expect(Self.decisions(after.stdout).values.allSatisfy { $0 == "reuse" })
    }

    @Test func useCurrentPipelineOnAnInterruptedRun() async throws {
        let sandbox = try RunSandbox("current-interrupted")
        let pipeline = try Self.copyPipeline(sandbox)
        let arguments = ["run", pipeline, "--profile", "ci", "--input", "task=a garden party"]
        // Killed inside the commit that completes facts: facts ran but is not recorded as completed.
        let killed = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": "attempt-finish-commit:7"])
        #expect(killed.signal == SIGKILL, "\(killed.summary)")
        let id = try await sandbox.onlyRunID()
        sandbox.clearCallLog()
        try Self.edit(pipeline, "Write a report titled", "Write a short report titled")

        let dry = try await sandbox.baton(["resume", id, "--dry-run", "--use-current-pipeline"])
        #expect(dry.status == 0, "\(dry.summary)")
        #expect(Self.decisions(dry.stdout) == ["plan": "reuse", "review": "reuse", "facts": "run", "report": "run"], "\(dry.stdout)")
        #expect(dry.stdout.contains("facts   run (not completed yet)"), "\(dry.stdout)")
        #expect(dry.stdout.contains("report  run (changed, or upstream of it changed)"), "\(dry.stdout)")

        let resumed = try await sandbox.baton(["resume", id, "--use-current-pipeline"])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(sandbox.calls().map(\.description) == ["facts#1", "report#1"])
        #expect(resumed.stdout.contains("report round 1: Write a short report titled Garden plan"), "\(resumed.stdout)")
        let store = try sandbox.store()
        #expect(try store.integrityCheck() == "ok")
        #expect(try store.run(id).status == .completed)
    }

    @Test func plainResumeOfAnEditedPipelineKeepsThePinnedSnapshot() async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("pinned")
        let pipeline = try Self.copyPipeline(sandbox)
        let killed = try await sandbox.baton(
            ["run", pipeline, "--profile", "ci", "--input", "task=a garden party"], ["BATON_TEST_KILL_AT": "render:7"])
        #expect(killed.signal == SIGKILL, "\(killed.summary)")
        let id = try await sandbox.onlyRunID()
        try Self.edit(pipeline, "Write a report titled", "Write a short report titled")
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(resumed.stderr.contains("note: \(pipeline) changed since run \(id) started"), "\(resumed.stderr)")
        #expect(resumed.stdout == baseline.stdout)
        try sandbox.checkInvariants(id, baseline: baseline, context: "pinned snapshot")
    }

    // MARK: - show

    @Test func showMarkdownIsATranscriptOfEveryPromptAndOutput() async throws {
        let (sandbox, id) = try await Self.completedRun("show-markdown")
        let result = try await sandbox.baton(["show", id, "--format", "markdown"])
        #expect(result.status == 0, "\(result.summary)")
        let markdown = result.stdout
        #expect(markdown.hasPrefix("# Run \(id): crash\n"))
        #expect(markdown.contains("- input task: a garden party"))
        #expect(markdown.contains("- status: completed"))
        let attempts = try sandbox.attempts(id)
        #expect(attempts.count == 8)
        for attempt in attempts {
            let heading = "## \(attempt.stage), round \(attempt.round)\n"
            #expect(markdown.contains(heading), "no heading \(heading)")
            #expect(markdown.contains("**Prompt**\n\n```text\n\(attempt.prompt)\n```"), "\(attempt.stage)#\(attempt.round) prompt missing")
            #expect(markdown.contains("**Output**\n\n```text\n\(attempt.output)\n```"), "\(attempt.stage)#\(attempt.round) output missing")
        }
        #expect(markdown.contains("**Verdict:** revise — Add a testing step."))
        #expect(markdown.contains("**Verdict:** approve — Ready."))
        #expect(markdown.contains("## Result\n\n### facts\n\n{\"title\": \"Garden plan\", \"steps\": 3, \"risk\": \"low\"}"))

        let review = try await sandbox.baton(["show", id, "--format", "markdown", "--stage", "review"])
        #expect(review.status == 0)
        #expect(review.stdout.contains("## review, round 3"))
        #expect(!review.stdout.contains("## plan"))
    }

    @Test func showJSONParsesAndHasTheRunItsAttemptsAndEvents() async throws {
        let (sandbox, id) = try await Self.completedRun("show-json")
        let shown = try await sandbox.show(id)
        let run = try #require(shown["run"] as? [String: Any])
        #expect(run["id"] as? String == id)
        #expect(run["pipeline"] as? String == "crash")
        #expect(shown["inputs"] as? [String: String] == ["task": "a garden party", "audience": "testers"])
        #expect(shown["plan"] is [String: Any])
        let attempts = try #require(shown["attempts"] as? [[String: Any]])
        let baseline = try await Baseline.shared.get()
        #expect(attempts.map { "\($0["stage"] as? String ?? "")#\($0["round"] as? Int ?? 0)" } == baseline.calls.map(\.description))
        #expect(attempts.compactMap { $0["verdict"] as? String } == ["revise", "revise", "approve"])
        let events = try #require(shown["events"] as? [[String: Any]])
        let kinds = events.compactMap { $0["kind"] as? String }
        #expect(kinds.first == "run-created")
        #expect(kinds.last == "run-completed")
        #expect(kinds.filter { $0 == "attempt-completed" }.count == 8)

        let stage = try await sandbox.baton(["show", id, "--format", "json", "--stage", "facts"])
        let facts = try #require(try JSONSerialization.jsonObject(with: Data(stage.stdout.utf8)) as? [String: Any])
        #expect((facts["attempts"] as? [[String: Any]])?.count == 1)

        let unknown = try await sandbox.baton(["show", id, "--stage", "nope"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("run \(id) has no stage 'nope'"))

        let text = try await sandbox.baton(["show", id])
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("run \(id): crash, completed\n"))
        #expect(text.stdout.contains("review  completed         3      3"), "\(text.stdout)")
    }
}
