import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton runs`: the runs in the database.
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs, newest first.")

        @Option(help: "Only runs with this status: running, completed, failed or interrupted.")
        var status: String?

        @Option(help: "Only runs of this pipeline.")
        var pipeline: String?

        @OptionGroup var database: DatabaseOption

        @Flag(help: "Print JSON.")
        var json = false

        /// One run of `baton runs --json`, times in RFC 3339.
        struct Row: Encodable {
            var id: String
            var pipeline: String
            var status: String
            var createdAt: String
            var finishedAt: String?
            var error: String?
            var parentRun: String?
            /// Why a queued run waits (``QueueWaiting``); absent for other runs.
            var waiting: String?
            var formatVersion = JSONTime.formatVersion

            init(_ run: RunRecord) {
                id = run.id
                pipeline = run.pipeline
                status = run.status.rawValue
                createdAt = JSONTime.string(run.createdAt)
                finishedAt = run.finishedAt.map(JSONTime.string)
                error = run.error
                parentRun = run.parentRunID
            }

            enum CodingKeys: String, CodingKey {
                case id, pipeline, status, error, waiting
                case createdAt = "created_at"
                case finishedAt = "finished_at"
                case parentRun = "parent_run"
                case formatVersion = "format_version"
            }
        }

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            let store: RunStore
            let runs: [RunRecord]
            do {
                store = try RunStore.forReading(path: database.path(environment: environment))
                runs = try store.runs(status: status.map(RunStatus.init(rawValue:)), pipeline: pipeline)
            } catch {
                throw RunSession.fail(error)
            }
            // Queued runs say why they wait: no live worker, none of their engine level, none with their labels.
            var waiting: [String: String] = [:]
            if runs.contains(where: { $0.status == .queued }) {
                let workers = (try? store.workers()) ?? []
                for run in runs where run.status == .queued {
                    waiting[run.id] = QueueWaiting.reason(run, workers: workers, now: RunStore.now())
                }
            }
            if json {
                // A list cannot carry the version; each row does.
                try Console.json(
                    runs.map { run in
                        var row = Row(run)
                        row.waiting = waiting[run.id]
                        return row
                    })
                return
            }
            guard !runs.isEmpty else {
                Console.error("no runs\(status.map { " with status \($0)" } ?? "")\(pipeline.map { " of \($0)" } ?? "")")
                return
            }
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
            let width = max(8, runs.map(\.pipeline.count).max() ?? 0)
            Console.out(
                "id                    " + "pipeline".padding(toLength: width, withPad: " ", startingAt: 0)
                    + "  status       started              duration")
            for run in runs {
                let status = run.displayStatus()
                let duration = run.finishedAt.map { ProgressPrinter.duration($0 - run.createdAt) } ?? "-"
                Console.out(
                    run.id.padding(toLength: 22, withPad: " ", startingAt: 0)
                        + run.pipeline.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                        + status.padding(toLength: 11, withPad: " ", startingAt: 0) + "  "
                        + formatter.string(from: Date(timeIntervalSince1970: run.createdAt)) + "  " + duration)
                if let reason = waiting[run.id] { Console.out("    \(reason)") }
            }
        }
    }

    /// `baton show`: one run in detail.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run: its stages, attempts, outputs, tokens and timings.")

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case text, json, markdown
        }

        @Argument(help: "The run id.")
        var runID: String

        @Option(help: "Only this stage's attempts (a sub-pipeline call's name: its stages').")
        var stage: String?

        @Option(help: "text, json, or markdown (a readable transcript).")
        var format: Format = .text

        @OptionGroup var database: DatabaseOption

        @OptionGroup var rawOutput: RawOutputOption

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            let report: RunReport
            let events: [EventRecord]
            do {
                let store = try RunStore.forReading(path: database.path(environment: environment))
                report = try RunReport.load(runID, from: store)
                events = try store.events(report.run.id)
            } catch {
                throw RunSession.fail(error)
            }
            // A sub-pipeline call's name shows every stage of the call.
            if let stage, Executor.rerunStage(stage, in: report.snapshot.plan) == nil {
                Console.error("error: run \(report.run.id) has no stage '\(stage)'")
                throw ExitCode(BatonExitCode.usage)
            }
            // Text and Markdown hold model output (answers, thinking, feedback, prompts that quote earlier answers): on a
            // terminal its control characters are shown, not executed. JSON escapes them itself.
            let raw = rawOutput.raw
            switch format {
            case .text:
                Console.out(
                    TerminalText.forStream(RunFormatter.text(report, events: events, stage: stage), STDOUT_FILENO, raw: raw), terminator: ""
                )
            case .markdown:
                Console.out(
                    TerminalText.forStream(RunFormatter.markdown(report, events: events, stage: stage), STDOUT_FILENO, raw: raw),
                    terminator: "")
            case .json: Console.out(try RunFormatter.json(report, events: events, stage: stage))
            }
        }
    }
}
