import BatonEngine
import BatonSpec
import Foundation

/// The approver `baton run`, `resume` and `rerun` give the executor: `--approve NAME` approves NAME's calls without
/// asking; otherwise a terminal (stdin and stderr both ttys) is asked, one call at a time, showing exactly what will
/// run; without a terminal the call is denied.
struct ToolApprovalPrompt: Sendable {
    /// The names `--approve` gave: tool stages, or the tools of model stages (`SERVER.TOOL` or a tool stage's name).
    var approved: Set<String>
    /// Whether there is a user to ask.
    var interactive: Bool
    /// Reads the user's answer (one line without its newline); nil at end of input.
    var readAnswer: @Sendable () async -> String?
    /// Writes the question (to stderr).
    var write: @Sendable (String) -> Void
    private let turn = PromptTurn()

    /// A prompt with injectable input and output (tests); `forTerminal` builds the real one.
    init(
        approved: Set<String>, interactive: Bool, readAnswer: @escaping @Sendable () async -> String?,
        write: @escaping @Sendable (String) -> Void
    ) {
        self.approved = approved
        self.interactive = interactive
        self.readAnswer = readAnswer
        self.write = write
    }

    /// The prompt on this process's terminal: asks only when stdin and stderr are both ttys.
    static func forTerminal(approved: [String]) -> ToolApprovalPrompt {
        ToolApprovalPrompt(
            approved: Set(approved), interactive: isatty(STDIN_FILENO) == 1 && isatty(STDERR_FILENO) == 1,
            readAnswer: { await readLineOffThePool() }, write: { FileHandle.standardError.write(Data($0.utf8)) })
    }

    /// The closure the executor asks.
    var approver: ToolApprover {
        { request in await decide(request) }
    }

    /// The decision for one call.
    func decide(_ request: ToolApprovalRequest) async -> ToolApprovalDecision {
        if approved.contains(request.tool) { return .approved("--approve") }
        guard interactive else {
            return .denied("no terminal to ask: run on a terminal or pass --approve \(request.tool)")
        }
        // Calls of parallel stages ask one after the other, so an answer never goes to the wrong question.
        await turn.acquire()
        defer { Task { await turn.release() } }
        let what = request.tool == request.stage ? "stage '\(request.stage)'" : "stage '\(request.stage)' calls tool '\(request.tool)'"
        write("\(what) (\(request.kind.rawValue)) will run:\n  \(request.detail)\napprove? [y/N] ")
        guard let answer = await readAnswer() else {
            write("\n")
            return .denied("no answer at the terminal (end of input)")
        }
        switch answer.trimmingCharacters(in: .whitespaces).lowercased() {
        case "y", "yes": return .approved("terminal")
        default: return .denied("declined at the terminal")
        }
    }

    /// Reads a line of stdin on a thread of its own: a blocking read must not hold one of the few cooperative threads
    /// (they run the rest of the run meanwhile). Cancelled (Ctrl-C), it answers nil and leaves the read behind.
    static func readLineOffThePool() async -> String? {
        let answer = OnceAnswer()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                answer.set(continuation)
                let thread = Thread { answer.resume(readLine(strippingNewline: true)) }
                thread.name = "baton-approval-prompt"
                thread.start()
            }
        } onCancel: {
            answer.resume(nil)
        }
    }

    /// A continuation resumed once, by whichever comes first: the line or the cancellation.
    private final class OnceAnswer: Sendable {
        private let state = Locked<(continuation: CheckedContinuation<String?, Never>?, done: Bool)>((nil, false))

        func set(_ continuation: CheckedContinuation<String?, Never>) {
            let resumeNow = state.withLock { state -> Bool in
                if state.done { return true }
                state.continuation = continuation
                return false
            }
            if resumeNow { continuation.resume(returning: nil) }
        }

        func resume(_ line: String?) {
            let continuation = state.withLock { state -> CheckedContinuation<String?, Never>? in
                state.done = true
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(returning: line)
        }
    }
}

/// One question at a time: waiters queue in order (an actor alone would interleave them at each suspension).
private actor PromptTurn {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}

extension ToolApprovalPrompt {
    /// The names `--approve` may give for `plan`: its tool stages and every tool its model stages may call.
    static func approvableNames(in plan: ExecutionPlan) -> [String] {
        var names: [String] = []
        for stage in plan.stages {
            if stage.isTool { names.append(stage.name) }
            names += stage.toolUse?.tools ?? []
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// An error for each `--approve` name that is not one of `plan`'s tools, with the closest name.
    static func unknownNames(_ given: [String], in plan: ExecutionPlan) -> [String] {
        let known = approvableNames(in: plan)
        return given.filter { !known.contains($0) }.map { name in
            let hint =
                Suggestion.closest(to: name, in: known).map { "; did you mean '\($0)'?" }
                ?? (known.isEmpty ? "; the pipeline runs no tool" : "; its tools: \(known.joined(separator: ", "))")
            return "--approve \(name): the pipeline has no tool stage or tool called '\(name)'\(hint)"
        }
    }
}
