import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonCommands

/// Approval on the command line (issue 12, "Approval"): `--approve NAME`, the terminal prompt, and the refusal without
/// a terminal; and resume's `--retry-call`/`--skip-call` names.
@Suite struct ToolApprovalCommandTests {
    /// A prompt whose answers come from a list and whose questions are recorded, with the order of both.
    final class Script: Sendable {
        let answers: Locked<[String?]>
        let log = Locked<[String]>([])

        init(_ answers: [String?]) { self.answers = Locked(answers) }

        func prompt(approved: Set<String> = [], interactive: Bool = true, delay: Duration = .zero) -> ToolApprovalPrompt {
            ToolApprovalPrompt(
                approved: approved, interactive: interactive,
                readAnswer: {
                    try? await Task.sleep(for: delay)
                    let answer = self.answers.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    self.log.withLock { $0.append("read \(answer ?? "EOF")") }
                    return answer
                },
                write: { text in self.log.withLock { $0.append("write \(text)") } })
        }
    }

    static let wc = ToolApprovalRequest(stage: "count", tool: "count", kind: .run, detail: "wc -w '/tmp/a file'")
    static let commit = ToolApprovalRequest(
        stage: "agent", tool: "git.git_commit", kind: .mcp, detail: #"git.git_commit {"message":"x","repo_path":"/r"}"#)

    @Test("--approve NAME approves that tool's calls without asking, on a terminal or not")
    func approveFlag() async {
        let script = Script([])
        for interactive in [true, false] {
            let prompt = script.prompt(approved: ["count", "git.git_commit"], interactive: interactive)
            #expect(await prompt.decide(Self.wc) == .approved("--approve"))
            #expect(await prompt.decide(Self.commit) == .approved("--approve"))
        }
        #expect(script.log.current.isEmpty)
    }

    @Test("on a terminal the question shows the exact detail and 'approve? [y/N]'; y or yes approves")
    func terminalYes() async {
        let script = Script(["y", " YES "])
        let prompt = script.prompt()
        #expect(await prompt.decide(Self.wc) == .approved("terminal"))
        #expect(await prompt.decide(Self.commit) == .approved("terminal"))
        let writes = script.log.current.filter { $0.hasPrefix("write ") }
        #expect(writes.count == 2)
        #expect(writes[0] == "write stage 'count' (run) will run:\n  wc -w '/tmp/a file'\napprove? [y/N] ", "\(writes)")
        #expect(writes[1].contains("stage 'agent' calls tool 'git.git_commit' (mcp)"), "\(writes)")
        #expect(writes[1].contains(#"  git.git_commit {"message":"x","repo_path":"/r"}"#), "\(writes)")
    }

    @Test("on a terminal the default is no: an empty line, n or anything else denies; end of input denies")
    func terminalNo() async {
        let script = Script(["", "n", "sure", nil])
        let prompt = script.prompt()
        #expect(await prompt.decide(Self.wc) == .denied("declined at the terminal"))
        #expect(await prompt.decide(Self.wc) == .denied("declined at the terminal"))
        #expect(await prompt.decide(Self.wc) == .denied("declined at the terminal"))
        #expect(await prompt.decide(Self.wc) == .denied("no answer at the terminal (end of input)"))
    }

    @Test("without a terminal a call that needs approval is denied, saying how to approve it; nothing is asked")
    func noTerminal() async {
        let script = Script(["y"])
        let decision = await script.prompt(approved: ["other"], interactive: false).decide(Self.commit)
        #expect(decision == .denied("no terminal to ask: run on a terminal or pass --approve git.git_commit"))
        #expect(script.log.current.isEmpty)
    }

    @Test("calls of parallel stages are asked one at a time: each question gets its answer before the next is written")
    func oneQuestionAtATime() async {
        let script = Script(["y", "n", "y"])
        let prompt = script.prompt(delay: .milliseconds(50))
        let decisions = await withTaskGroup(of: ToolApprovalDecision.self) { group in
            for index in 0..<3 {
                group.addTask {
                    await prompt.decide(ToolApprovalRequest(stage: "s\(index)", tool: "s\(index)", kind: .run, detail: "true"))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let kinds = script.log.current.map { $0.hasPrefix("write") ? "w" : "r" }
        #expect(kinds == ["w", "r", "w", "r", "w", "r"], "\(script.log.current)")
        #expect(decisions.filter(\.isApproved).count == 2)
    }

    @Test("--approve names must be a tool stage or a model stage's tool; others get a did-you-mean")
    func unknownApproveNames() throws {
        // Compiled without a profile (no tool-not-allowed); warnings do not matter here.
        let plan = try #require(
            PipelineCompiler(profile: nil).compile(
                SourceFile(
                    path: "tools.yaml",
                    text: """
                        version: 1
                        mcp_servers:
                          git: {command: [mcp-server-git]}
                        stages:
                          count: {run: [wc, -w], stdin: some words, description: Counts words.}
                          agent: {model: m, prompt: Go., tools: [count, git.git_commit], max_tool_calls: 3}
                        """)
            ).plan)
        #expect(ToolApprovalPrompt.approvableNames(in: plan) == ["count", "git.git_commit"])
        #expect(
            ToolApprovalPrompt.unknownNames(["count", "git.git_comit", "agent"], in: plan) == [
                "--approve git.git_comit: the pipeline has no tool stage or tool called 'git.git_comit'; did you mean 'git.git_commit'?",
                "--approve agent: the pipeline has no tool stage or tool called 'agent'; its tools: count, git.git_commit",
            ])
    }

    @Test("run --json lines of tool events carry their fields (tool, kind, detail, effects, status, exit code, how, why)")
    func toolEventLines() throws {
        func json(_ event: ToolRunEvent) throws -> [String: Any] {
            let text = try JSONOutput.text(ProgressEventLine(.tool(event))!, pretty: false)
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        let started = try json(
            .callStarted(stage: "count", tool: "count", kind: .run, detail: "wc -w", effects: .none, item: nil, rerun: true))
        #expect(started["event"] as? String == "tool-call-started" && started["stage"] as? String == "count")
        #expect(started["kind"] as? String == "run" && started["detail"] as? String == "wc -w" && started["effects"] as? String == "none")
        #expect(started["rerun"] as? Bool == true)
        let finished = try json(
            .callFinished(stage: "count", tool: "count", status: .done, exitCode: 0, httpStatus: nil, seconds: 0.5, item: 2))
        #expect(finished["status"] as? String == "done" && finished["exit_code"] as? Int == 0 && finished["item"] as? Int == 2)
        #expect(finished["http_status"] == nil)
        let approved = try json(.approved(stage: "agent", tool: "git.git_commit", how: "--approve"))
        #expect(approved["event"] as? String == "tool-approved" && approved["how"] as? String == "--approve")
        let denied = try json(.denied(stage: "agent", tool: "git.git_commit", why: "declined at the terminal"))
        #expect(denied["reason"] as? String == "declined at the terminal" && denied["tool"] as? String == "git.git_commit")
        let line = try json(.mcpStderr(server: "git", line: "ready"))
        #expect(line["event"] as? String == "mcp-stderr" && line["server"] as? String == "git" && line["text"] as? String == "ready")
    }

    @Test("run --approve with a name the pipeline does not have exits 64 before anything is recorded")
    func runRefusesUnknownApprove() async throws {
        let sandbox = try RunSandbox("approve-unknown")
        let pipeline = sandbox.folder + "/plain.yaml"
        try """
        version: 1
        stages:
          draft: {model: m, prompt: Say hi.}
        """.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let run = try await sandbox.baton(["run", pipeline, "--runtime", "echo", "--approve", "draft"])
        #expect(run.status == 64, "\(run.summary)")
        #expect(
            run.stderr.contains("--approve draft: the pipeline has no tool stage or tool called 'draft'; the pipeline runs no tool"),
            "\(run.stderr)")
        #expect(try await sandbox.runIDs().isEmpty)
    }

    @Test("resume --retry-call/--skip-call with a stage the run does not have exits 64 with a did-you-mean; both at once is a usage error")
    func resumeCallNames() async throws {
        let sandbox = try RunSandbox("resume-call-names")
        let pipeline = sandbox.folder + "/plain.yaml"
        try """
        version: 1
        stages:
          draft: {model: m, prompt: Say hi.}
        """.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let run = try await sandbox.baton(["run", pipeline, "--runtime", "echo"])
        #expect(run.status == 0, "\(run.summary)")
        let id = try await sandbox.onlyRunID()

        let retry = try await sandbox.baton(["resume", id, "--retry-call", "draf"])
        #expect(retry.status == 64, "\(retry.summary)")
        #expect(retry.stderr.contains("error: --retry-call draf: run \(id) has no stage 'draf'; did you mean 'draft'?"), "\(retry.stderr)")
        let skip = try await sandbox.baton(["resume", id, "--skip-call", "nothing"])
        #expect(skip.status == 64 && skip.stderr.contains("--skip-call nothing: run \(id) has no stage 'nothing'"), "\(skip.summary)")
        let both = try await sandbox.baton(["resume", id, "--retry-call", "draft", "--skip-call", "draft"])
        #expect(both.status == 64 && both.stderr.contains("contradict"), "\(both.summary)")
        let fine = try await sandbox.baton(["resume", id, "--skip-call", "draft"])
        #expect(fine.status == 0 && fine.stderr.contains("already completed"), "\(fine.summary)")
    }
}
