import BatonEngine
import BatonSpec
import Foundation

/// Prints a run as it happens: progress (and streamed tokens) to standard error, results to standard
/// output; or, with `--json`, one JSON object per event on standard output.
final class ProgressPrinter: @unchecked Sendable {
    enum Mode {
        case human, quiet, json
    }

    private let mode: Mode
    private let streamTokens: Bool
    private let lock = NSLock()
    private var midLine = false
    /// Reused stages not yet reported: a resumed run prints one line for a run of them.
    private var reused: [String] = []
    /// The lines of fan-out items about to start, by stage and item, each printed with the item's first attempt; a
    /// reused item joins `reused` instead, so a resume past 10,000 done items prints one line, not one per item.
    /// Several are pending at once when a stage with `concurrency` starts items together.
    private var pendingItems: [ItemKey: (label: String, line: String)] = [:]
    /// Fan-out items whose attempt is running now: while more than one is, their tokens are not streamed (they would
    /// interleave); `baton show` prints each item's output.
    private var itemsInFlight: Set<ItemKey> = []
    /// Stages whose "not streamed" note was printed.
    private var unstreamedNoted: Set<String> = []
    /// Stages whose items have run at once: from then on the line that ends an item's attempt names the item.
    private var concurrentStages: Set<String> = []
    /// Whether a live line may be drawn: standard error is a terminal (tests and CI read plain lines).
    private let live: Bool
    /// What the run is waiting for now (a load, the first token) and since when, shown on the live line.
    private var activity: (text: String, since: Date)?
    /// Whether the live line is on the screen now.
    private var drawn = false
    private var timer: (any DispatchSourceTimer)?
    /// Whether what is written to standard output / standard error shows control characters as text
    /// (``TerminalText``): model output is untrusted, and a terminal would execute them.
    private let escapeOut: Bool
    private let escapeError: Bool

    /// - Parameters:
    ///   - live: draw a live line for loads and the wait for a first token (default: when standard error is a terminal).
    ///   - raw: `--raw`: write model output to a terminal unescaped (a pipe or file always gets it byte-exact).
    init(mode: Mode, streamTokens: Bool, live: Bool = isatty(STDERR_FILENO) == 1, raw: Bool = false) {
        self.mode = mode
        self.streamTokens = streamTokens
        self.live = live && mode == .human
        escapeOut = TerminalText.escapes(STDOUT_FILENO, raw: raw)
        escapeError = TerminalText.escapes(STDERR_FILENO, raw: raw)
        if self.live {
            // Redrawn a few times a second while something is awaited.
            let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "baton.progress.live"))
            timer.schedule(deadline: .now() + 0.25, repeating: 0.25)
            timer.setEventHandler { [weak self] in self?.redraw() }
            timer.resume()
            self.timer = timer
        }
    }

    deinit {
        timer?.cancel()
    }

    private func redraw() {
        locked { drawLive() }
    }

    /// Draws the live line in place (carriage return, then clear to the end of the line).
    private func drawLive() {
        guard live, let activity, !midLine else { return }
        let seconds = Date().timeIntervalSince(activity.since)
        Console.error("\r\u{1B}[K\(activity.text)… \(String(format: "%.1f", seconds)) s", terminator: "")
        drawn = true
    }

    /// Removes the live line from the screen, leaving the cursor at the start of the empty line.
    private func clearLive() {
        guard drawn else { return }
        Console.error("\r\u{1B}[K", terminator: "")
        drawn = false
    }

    /// Starts showing `text` with the time since now.
    private func startActivity(_ text: String) {
        guard live else { return }
        activity = (text, Date())
        drawLive()
    }

    /// Stops showing what was awaited.
    private func settle() {
        activity = nil
        clearLive()
    }

    /// A line for the person at the terminal (not in quiet or JSON mode).
    func note(_ text: String) {
        guard mode == .human else { return }
        locked { line(text) }
    }

    private func locked(_ body: () -> Void) {
        lock.lock()
        body()
        lock.unlock()
    }

    private func line(_ text: String) {
        if !reused.isEmpty {
            let names = reused.count <= 4 ? reused.joined(separator: ", ") : "\(reused.first!) … \(reused.last!)"
            let count = reused.count
            reused = []
            line("↺ \(count) completed attempt\(count == 1 ? "" : "s") reused, not run again (\(names))")
        }
        settle()
        if midLine {
            Console.error("")
            midLine = false
        }
        // Lines quote the model (a critic's feedback, a refusal in an error) and servers' error bodies.
        Console.error(escapeError ? TerminalText.visible(text) : text)
    }

    func handle(_ event: RunEvent) {
        // Models left loaded against the profile's `after_run` are said on stderr in every mode.
        if mode != .human, case .afterRun(let report) = event {
            for error in report.errors { locked { Console.error("warning: \(error)") } }
        }
        switch mode {
        case .quiet: return
        case .json: json(event)
        case .human: locked { human(event) }
        }
    }

    private func human(_ event: RunEvent) {
        switch event {
        case .runStarted(let id, let pipeline, let resumed):
            line("\(resumed ? "resuming" : "run") \(id) (\(pipeline))")
        case .attemptStarted(let stage, let role, let model, let round, let tryNumber, let number, let count, let item):
            if let item {
                let key = ItemKey(stage: stage, item: item)
                if let pending = pendingItems.removeValue(forKey: key) { line(pending.line) }
                itemsInFlight.insert(key)
                if itemsInFlight.count > 1 { concurrentStages.insert(stage) }
            }
            var parts = [stage]
            if let role { parts.append(role) }
            parts.append(model)
            if round > 1 { parts.append("round \(round)") }
            if tryNumber > 1 { parts.append("try \(tryNumber)") }
            parts.append("stage \(number) of \(count)")
            line("▸ " + parts.joined(separator: " · "))
        case .loadStarted(_, let model):
            // "ollama:qwen2.5:14b" is loading qwen2.5:14b on ollama.
            let parts = model.split(separator: ":", maxSplits: 1).map(String.init)
            startActivity(parts.count == 2 ? "loading \(parts[1]) on \(parts[0])" : "loading \(model)")
        case .generationStarted:
            startActivity("waiting for the first token")
        case .runtimeUnreachable(let stage, let runtime, let error, let fix, let skipped):
            // The retry lines before this one quoted the connection error; this says what to do, once.
            let what = fix.isEmpty ? "is not usable: \(error)" : "is not reachable; \(fix)"
            let skipping = skipped.isEmpty ? "" : "; skipping its other models for this run: \(skipped.joined(separator: ", "))"
            // "runtime 'cloud' has no API key; ..." names the runtime already.
            let said = fix.isEmpty && error.hasPrefix("runtime '\(runtime)' ") ? error : "runtime '\(runtime)' \(what)"
            line("  ✗ \(stage): \(said)\(skipping)")
        case .attemptReused(let stage, let round, let item):
            var name = stage
            if let item, let pending = pendingItems.removeValue(forKey: ItemKey(stage: stage, item: item)) { name = pending.label }
            reused.append(round > 1 ? "\(name) round \(round)" : name)
        case .token(let stage, let text, let item):
            if activity != nil { settle() }
            guard streamTokens else { return }
            if item != nil, itemsInFlight.count > 1 {
                if unstreamedNoted.insert(stage).inserted {
                    line("  ⋔ \(stage): items run at once; their answers are not streamed (baton show prints each)")
                }
                return
            }
            // One token at a time: an escape sequence split across tokens is still shown, since each ESC is.
            Console.error(escapeError ? TerminalText.visible(text) : text, terminator: "")
            midLine = !text.hasSuffix("\n")
        case .thinking:
            // Thinking is recorded (baton show --stage S prints it), not streamed with the answer; the live
            // line says the model is thinking, still counting from the request.
            if let since = activity?.since, activity?.text == "waiting for the first token" {
                activity = ("thinking before the first token", since)
            }
        case .runtimeNotice(let stage, let notice):
            line("  ! \(stage): \(notice.message)")
        case .outputTruncated(let stage, _, let limit):
            let at = limit.map { " at max_tokens: \($0)" } ?? " at its max_tokens"
            line("  ! \(stage): the answer was cut off\(at) and is kept as it is; raise max_tokens for a complete answer")
        case .attemptFinished(let summary):
            // Of items running at once, the lines that end them come in any order: each names its item.
            var name = summary.stage
            if let item = summary.item {
                if concurrentStages.contains(summary.stage) { name += " item \(item + 1)" }
                itemsInFlight.remove(ItemKey(stage: summary.stage, item: item))
            }
            let tokens = summary.outputTokens.map { ", \(summary.promptTokens ?? 0) → \($0) token\($0 == 1 ? "" : "s")" } ?? ""
            if summary.status == .completed {
                let cut = summary.finishReason == "truncated" ? " (truncated)" : ""
                line("  ✓ \(name) \(Self.duration(summary.seconds))\(tokens)\(cut)")
            } else {
                line("  ✗ \(name) \(summary.status): \(summary.error ?? "")")
            }
        case .retrying(let stage, _, let error, let delay):
            line("  retrying \(stage) in \(Self.duration(delay)): \(error)")
        case .verdict(let critic, let reviewed, let round, let verdict, let feedback, let item):
            let short = feedback.count > 160 ? String(feedback.prefix(160)) + "…" : feedback
            let which = item.map { " item \($0 + 1)" } ?? ""
            line("  \(critic) on \(reviewed)\(which) round \(round): \(verdict)\(short.isEmpty ? "" : " — \(short)")")
        case .modelLoaded(let model, let seconds):
            line("  loaded \(model) in \(Self.duration(seconds))")
        case .modelUnloaded(let model, let seconds):
            line("  unloaded \(model) (\(Self.duration(seconds)) until confirmed)")
        case .modelFallback(let stage, let from, let to, let reason):
            line("  ↪ \(stage): \(from) \(reason); falling back to \(to)")
        case .thermalPaused(let stage, _, let state, let maxWait):
            line("⏸ pausing before \(stage): machine is hot (\(state)), waiting up to \(Self.duration(maxWait)) for it to cool")
        case .thermalResumed(let stage, _, let state, let waited):
            line("▶ resuming with \(stage): machine cooled to \(state?.description ?? "an unknown state") after \(Self.duration(waited))")
        case .thermalWaitExceeded(let stage, _, let state, let waited):
            line("▶ still hot (\(state)) after \(Self.duration(waited)), the profile's thermal max_wait: running \(stage) anyway")
        case .stageSkipped(let stage, let reason, let reused):
            // A skip decided by an earlier process is reused as a completed attempt is.
            if reused {
                self.reused.append("\(stage) (skipped)")
            } else {
                line("⤼ \(stage) skipped: \(reason)")
            }
        case .routeChosen(let router, let field, let value, let branch, let stages):
            let found = value.map { "\(field) = \($0)" } ?? "\(field) has no value"
            let runs = stages.isEmpty ? "no stages" : stages.joined(separator: ", ")
            line("  ⑂ \(router) chose \(branch) (\(found)): runs \(runs)")
        case .itemsExpanded(let stage, let count, let reused):
            line("  ⋔ \(stage): \(count) item\(count == 1 ? "" : "s")\(reused ? " (pinned earlier)" : "")")
        case .itemStarted(let stage, let item, let count, let summary):
            pendingItems[ItemKey(stage: stage, item: item)] = (
                "\(stage) item \(item + 1)", "  · \(stage) item \(item + 1) of \(count): \(summary)"
            )
        case .voteCounted(let stage, let field, let value, let count, let total, let tally):
            let counts = tally.map { "\($0.value) \($0.count)" }.joined(separator: ", ")
            line("  ☑ \(stage) vote on \(field): \(value) (\(count) of \(total); \(counts))")
        case .tool(let event):
            // Commands, their stderr and servers' lines are not Baton's text: control characters are shown, not obeyed.
            line(escapeError ? TerminalText.visible(event.line) : event.line)
        case .afterRun(let report):
            if let text = Self.afterRunLine(report) { line(text) }
            for error in report.errors { line("  ! models: \(error)") }
        case .runFinished:
            break
        }
    }

    private func json(_ event: RunEvent) {
        if let line = ProgressEventLine(event) { emitJSON(line) }
    }

    private func emitJSON(_ line: ProgressEventLine) {
        var line = line
        // When the event was printed (events had no time before, so their version is unchanged).
        line.at = JSONTime.string(Date().timeIntervalSince1970)
        guard let text = try? JSONOutput.text(line, pretty: false) else { return }
        locked { Console.out(text) }
    }

    /// Prints the end of a run: outputs to standard output and a summary to standard error. `stoppedAtCall`: the run
    /// stopped at an unfinished external tool call, and `reason` already says how to go on.
    func finish(
        report: RunReport, status: RunStatus, reason: String? = nil, modelEvents: (loads: Int, unloads: Int) = (0, 0),
        stoppedAtCall: Bool = false
    ) {
        let outputs = report.outputs
        if mode == .json {
            emitJSON(
                ProgressEventLine(
                    event: "run-\(status.rawValue)", run: report.run.id, error: reason,
                    outputs: Dictionary(outputs.map { ($0.stage, $0.output) }, uniquingKeysWith: { first, _ in first })))
            return
        }
        if status == .completed {
            for (index, output) in outputs.enumerated() {
                if outputs.count > 1 { Console.out("\(index > 0 ? "\n" : "")## \(output.stage)\n") }
                Console.out(escapeOut ? TerminalText.visible(output.output) : output.output)
            }
        }
        guard mode == .human else {
            if let reason { Console.error("error: \(escapeError ? TerminalText.visible(reason) : reason)") }
            return
        }
        locked {
            line("")
            line(Self.summary(report, limit: 40))
            if modelEvents.loads + modelEvents.unloads > 0 {
                line(
                    "models: \(modelEvents.loads) load\(modelEvents.loads == 1 ? "" : "s"), \(modelEvents.unloads) unload\(modelEvents.unloads == 1 ? "" : "s")"
                )
            }
            switch status {
            case .completed: line("run \(report.run.id) completed")
            case .interrupted: line("run \(report.run.id) interrupted; continue it with: baton resume \(report.run.id)")
            case _ where stoppedAtCall:
                line("run \(report.run.id) stopped: \(reason ?? "")")
            default:
                line("run \(report.run.id) failed: \(reason ?? "")\nfix the cause, then continue it with: baton resume \(report.run.id)")
            }
        }
        if status != .completed, mode == .quiet, let reason {
            Console.error("error: \(escapeError ? TerminalText.visible(reason) : reason)")
        }
    }

    /// The per-stage table: status, rounds, tries, time and tokens. A run with a fan-out stage shows its items and,
    /// instead of tries (one per item already), its retries: tries beyond the first of each item and round.
    static func summary(_ report: RunReport, limit: Int = .max) -> String {
        var rows = report.stageTotals
        var hidden = 0
        if rows.count > limit {
            hidden = rows.count - limit
            rows = Array(rows.prefix(limit / 2)) + Array(rows.suffix(limit / 2))
        }
        let fanOut = report.snapshot.plan.stages.contains { $0.fanOut != nil }
        let width = max(5, rows.map(\.stage.count).max() ?? 0)
        let columns = fanOut ? "  status       items  rounds  retries      time" : "  status       rounds  tries      time"
        var lines = [
            "stage".padding(toLength: width, withPad: " ", startingAt: 0) + columns + "   tokens in → out"
        ]
        for row in rows {
            let name = row.stage.padding(toLength: width, withPad: " ", startingAt: 0)
            let status = row.status.padding(toLength: 11, withPad: " ", startingAt: 0)
            let rounds = String(row.rounds).leftPadded(6)
            let counts: String
            if fanOut {
                let items = (row.items > 0 ? String(row.items) : "–").leftPadded(5)
                counts = items + "  " + rounds + "  " + String(row.retries).leftPadded(7)
            } else {
                counts = rounds + "  " + String(row.tries).leftPadded(5)
            }
            let time = duration(row.seconds).leftPadded(9)
            lines.append("\(name)  \(status)  \(counts)  \(time)   \(row.promptTokens) → \(row.outputTokens)")
            if hidden > 0, lines.count == limit / 2 + 1 {
                lines.append("… \(hidden) more stages (baton show \(report.run.id))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// What `after_run` did, in one line (`models: unloaded ollama:qwen3:4b (loaded by this run); loaded
    /// ollama:llama3.2:latest again (resident before the run)`); nil when it did nothing.
    static func afterRunLine(_ report: AfterRunReport) -> String? {
        var parts: [String] = []
        if !report.unloaded.isEmpty { parts.append("unloaded \(report.unloaded.joined(separator: ", ")) (loaded by this run)") }
        if !report.reloaded.isEmpty { parts.append("loaded \(report.reloaded.joined(separator: ", ")) again (resident before the run)") }
        if !report.expired.isEmpty {
            parts.append("left \(report.expired.joined(separator: ", ")) unloaded (its keep_alive from before the run ran out)")
        }
        return parts.isEmpty ? nil : "models: " + parts.joined(separator: "; ")
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
    }
}

/// A fan-out item of a stage (from 0), as progress events name it.
private struct ItemKey: Hashable {
    var stage: String
    var item: Int
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
