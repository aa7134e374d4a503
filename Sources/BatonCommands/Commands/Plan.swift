import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton plan`: the schedule of a pipeline, with each load and unload, before anything runs.
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a pipeline's schedule: stage order, model loads and unloads, resident memory, the peak.",
            discussion: """
                After the schedule, the hosts a run would contact (with the runtimes and stages that use each), the API keys it \
                would use, by name only, and the commands and MCP servers it would start. Read them before you trust a project \
                folder; they come from the pipeline and profile alone, so --offline lists them too.
                """)

        @Argument(help: "A pipeline name on the search path, or a pipeline file.")
        var pipeline: String

        @OptionGroup var profileOption: ProfileOption

        @Flag(help: "Print JSON.")
        var json = false

        /// Footprints measured in earlier runs come from here.
        @OptionGroup var database: DatabaseOption

        @OptionGroup var discovery: DiscoveryOptions<PlanDiscoveryHelp>

        func run() async throws {
            let workspace = Workspace.current()
            let loaded = try await PlanLoader(workspace: workspace).loadReporting(
                pipeline, profileName: profileOption.resolvedName(environment: workspace.environment), discover: discovery.discover,
                database: database.path(environment: workspace.environment))
            let schedule: LoadSchedule
            let measured = loaded.measured
            do {
                schedule = try LoadSchedule.make(loaded.plan, profile: loaded.profile, measured: measured)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode.invalidPipeline
            }
            // From the plan and profile alone: nothing is contacted, so `--offline` prints it too.
            let reach = RunReach(plan: loaded.plan, profile: loaded.profile)
            if json {
                Console.out(try ScheduleFormatter.json(schedule, plan: loaded.plan, reach: reach))
            } else {
                Console.out(ScheduleFormatter.text(schedule, plan: loaded.plan, inventory: loaded.inventory), terminator: "")
                Console.out(ReachFormatter.text(reach), terminator: "")
            }
        }
    }
}

/// `baton plan` output.
enum ScheduleFormatter {
    static func size(_ bytes: Int64?) -> String { bytes.map { ByteCount(bytes: $0).description } ?? "?" }

    /// Each sub-pipeline call of `plan` (nested ones too), in the order its first stage runs, with its stages.
    static func calls(in plan: ExecutionPlan) -> [(frame: CallFrame, stages: [String])] {
        var order: [String] = []
        var found: [String: (frame: CallFrame, stages: [String])] = [:]
        for stage in plan.stages {
            for frame in stage.calls ?? [] {
                if found[frame.path] == nil {
                    order.append(frame.path)
                    found[frame.path] = (frame, [])
                }
                found[frame.path]?.stages.append(stage.name)
            }
        }
        return order.compactMap { found[$0] }
    }

    static func text(_ schedule: LoadSchedule, plan: ExecutionPlan, inventory: ModelInventory? = nil) -> String {
        var lines = [
            "plan \(plan.pipeline)" + (plan.profile.map { " with profile \($0)" } ?? "")
                + ", memory budget \(size(schedule.budget)) (\(schedule.budgetSource))",
            "",
        ]
        // A fan-out stage is one row: its model serves every item back to back; `×N` is the worst case (max_items).
        func label(_ stage: String) -> String {
            guard let fanOut = plan.stage(named: stage)?.fanOut else { return stage }
            return "\(stage) ×\(fanOut.maxItems)"
        }
        let stageWidth = max(5, schedule.rows.map { label($0.stage).count }.max() ?? 0)
        // A tool stage has no model: its column says so.
        func model(_ row: LoadSchedule.Row) -> String { row.tool == nil ? row.model.description : "none" }
        let modelWidth = max(5, schedule.rows.map { model($0).count }.max() ?? 0)
        lines.append(
            " #  " + "stage".padding(toLength: stageWidth, withPad: " ", startingAt: 0) + "  "
                + "model".padding(toLength: modelWidth, withPad: " ", startingAt: 0) + "  resident while it runs    before it")
        for (index, row) in schedule.rows.enumerated() {
            var actions = row.unloads.map { "unload \($0) (\(size(schedule.footprint(of: $0))))" }
            if let tool = row.tool {
                actions.append("a `\(tool.rawValue)` stage: no model")
            } else if let host = row.servedBy {
                actions.append("served by \(host), not loaded here")
            } else {
                if let context = row.contextReload {
                    actions.append("reload \(row.model) with num_ctx \(context) (\(size(row.footprint)))")
                } else {
                    actions.append(row.loads ? "load \(row.model) (\(size(row.footprint)))" : "already loaded")
                    if let during = row.preloadDuring { actions[actions.count - 1] += ", started while \(during) runs" }
                }
                // A retrieve stage's model is its index's embedding model.
                if let index = plan.stage(named: row.stage)?.retrieve?.index { actions.append("embeds the query of index \(index)") }
            }
            lines.append(
                String(index + 1).leftPadded(2) + "  " + label(row.stage).padding(toLength: stageWidth, withPad: " ", startingAt: 0) + "  "
                    + model(row).padding(toLength: modelWidth, withPad: " ", startingAt: 0) + "  "
                    + size(row.residentBytes).padding(toLength: 24, withPad: " ", startingAt: 0) + "  " + actions.joined(separator: "; "))
        }
        let choices = plan.stages.compactMap { stage in stage.modelChoice.map { (stage.name, $0) } }
        if !choices.isEmpty {
            lines.append("")
            lines.append("why these models:")
            for (stage, choice) in choices {
                lines.append("  \(stage.padding(toLength: stageWidth, withPad: " ", startingAt: 0))  \(choice.explanation)")
            }
            let used = Set(plan.stages.flatMap(\.models).compactMap(\.runtime))
            for (runtime, models) in (inventory?.runtimes ?? [:]).sorted(by: { $0.key < $1.key }) where used.contains(runtime) {
                if case .unknown(let reason) = models { lines.append("runtime \(runtime) not reached: \(reason)") }
            }
            if !schedule.loops.isEmpty { lines.append("") }
        }
        for loop in schedule.loops {
            lines.append(
                loop.staysResident
                    ? "critic loop \(loop.critic) ↔ \(loop.reviewed): further rounds reuse the resident models, no swap"
                    : "critic loop \(loop.critic) ↔ \(loop.reviewed): the two models do not fit together; each further round swaps them")
        }
        let fanOuts = schedule.rows.compactMap { row in plan.stage(named: row.stage)?.fanOut.map { (row.stage, $0) } }
        if !fanOuts.isEmpty {
            lines.append("")
            for (stage, fanOut) in fanOuts {
                let what = fanOut.repeatCount != nil ? "\(fanOut.maxItems) samples" : "up to \(fanOut.maxItems) items (max_items)"
                lines.append("fan-out \(stage): \(what), its model resident for all of them back to back, no swap between items")
            }
        }
        let calls = Self.calls(in: plan)
        if !calls.isEmpty {
            lines.append("")
            for (frame, stages) in calls {
                var line = "call \(frame.path): uses \(frame.pipeline), stages \(stages.joined(separator: ", "))"
                if let choice = frame.routedBy { line += "; runs on route \(choice.router) → \(choice.branches.joined(separator: ", "))" }
                if let condition = frame.condition { line += "; runs only when \(condition.text)" }
                lines.append(line)
            }
        }
        if !schedule.branches.isEmpty {
            lines.append("")
            lines.append("the rows above run every branch (the worst case); each branch alone:")
            for branch in schedule.branches {
                let stages = branch.stages.isEmpty ? "no stages" : branch.stages.joined(separator: ", ")
                let loads = branch.loads.isEmpty ? "no loads" : "loads " + branch.loads.map(\.description).joined(separator: ", ")
                lines.append(
                    "  route \(branch.router) → \(branch.branch): runs \(stages); \(loads); \(branch.unloadCount) unload\(branch.unloadCount == 1 ? "" : "s"), peak \(size(branch.peakBytes))"
                )
            }
        }
        lines.append("")
        if schedule.loadCount > 0 {
            if let off = schedule.preloadingOff {
                lines.append("preloading off: \(off)")
            } else if schedule.preloadCount == 0 {
                lines.append("preloading: no load can start before its stage (the budget, or a stage that may be skipped)")
            } else {
                lines.append(
                    "preloading: \(schedule.preloadCount) of \(schedule.loadCount) loads start while an earlier stage runs; peak with loads in flight \(size(schedule.peakWithPreloads))"
                )
            }
        }
        lines.append(
            "peak resident \(size(schedule.peakBytes)) of \(size(schedule.budget)); \(schedule.loadCount) load\(schedule.loadCount == 1 ? "" : "s"), \(schedule.unloadCount) unload\(schedule.unloadCount == 1 ? "" : "s")"
        )
        if !schedule.unknownFootprints.isEmpty {
            lines.append(
                "footprint unknown (counted as 0): \(schedule.unknownFootprints.map(\.description).joined(separator: ", ")); add them to the profile's registry"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One stage of `baton plan --json`.
    struct Step: Encodable {
        struct Choice: Encodable {
            var rule: String
            var explanation: String
        }
        var stage: String
        var model: String
        var runtime: String
        var load: Bool
        var unload: [String]
        var residentBytes: Int64
        var resident: [String]
        var footprintBytes: Int64?
        var servedBy: String?
        var reloadNumCtx: Int?
        var modelChoice: Choice?
        /// For a fan-out stage: the most items it may run (max_items, or repeat's sample count), all on this model.
        var maxItems: Int? = nil
        /// For a tool stage: its kind (`run`, `http`, `mcp`); it has no model.
        var tool: String? = nil
        /// For a load that starts in the background: the stage during which it starts.
        var preloadDuring: String? = nil

        enum CodingKeys: String, CodingKey {
            case stage, model, runtime, load, unload, resident
            case preloadDuring = "preload_during"
            case maxItems = "max_items"
            case residentBytes = "resident_bytes"
            case footprintBytes = "footprint_bytes"
            case servedBy = "served_by"
            case reloadNumCtx = "reload_num_ctx"
            case modelChoice = "model_choice"
            case tool
        }
    }

    /// A critic loop of `baton plan --json`.
    struct Loop: Encodable {
        var critic: String
        var stage: String
        var staysResident: Bool

        enum CodingKeys: String, CodingKey {
            case critic, stage
            case staysResident = "stays_resident"
        }
    }

    /// A route branch of `baton plan --json`: its stages and the schedule with only that branch.
    struct Branch: Encodable {
        var router: String
        var branch: String
        var stages: [String]
        var loads: Int
        var loadModels: [String]
        var unloads: Int
        var peakBytes: Int64

        enum CodingKeys: String, CodingKey {
            case router, branch, stages, loads, unloads
            case loadModels = "load_models"
            case peakBytes = "peak_bytes"
        }
    }

    /// The document `baton plan --json` prints.
    struct Document: Encodable {
        var pipeline: String
        var profile: OrNull<String>
        var budgetBytes: Int64
        var budgetSource: String
        var steps: [Step]
        var peakBytes: Int64
        var loads: Int
        var unloads: Int
        var loops: [Loop]
        /// One per route branch (empty without routes).
        var branches: [Branch]
        var unknownFootprints: [String]
        /// Loads that start in the background, and why none may (the profile, the runtimes), when that is so.
        var preloads: Int
        var preloadingOff: OrNull<String>
        /// The most bytes resident or loading at once, with those loads.
        var peakBytesWithPreloads: Int64
        /// What a run would reach: runtimes with their hosts, keys by name, commands and MCP servers.
        var reach: ReachFormatter.Document

        enum CodingKeys: String, CodingKey {
            case pipeline, profile, steps, loads, unloads, loops, branches, reach, preloads
            case preloadingOff = "preloading_off"
            case peakBytesWithPreloads = "peak_bytes_with_preloads"
            case budgetBytes = "budget_bytes"
            case budgetSource = "budget_source"
            case peakBytes = "peak_bytes"
            case unknownFootprints = "unknown_footprints"
        }
    }

    static func json(_ schedule: LoadSchedule, plan: ExecutionPlan, reach: RunReach) throws -> String {
        let steps = schedule.rows.map { row in
            Step(
                stage: row.stage, model: row.model.name, runtime: row.model.runtime, load: row.loads,
                unload: row.unloads.map(\.description),
                residentBytes: row.residentBytes, resident: row.resident.map(\.description), footprintBytes: row.footprint,
                servedBy: row.servedBy, reloadNumCtx: row.contextReload,
                modelChoice: plan.stage(named: row.stage)?.modelChoice.map {
                    Step.Choice(rule: $0.rule.rawValue, explanation: $0.explanation)
                }, maxItems: plan.stage(named: row.stage)?.fanOut?.maxItems, tool: row.tool?.rawValue, preloadDuring: row.preloadDuring)
        }
        return try JSONOutput.text(
            Document(
                pipeline: plan.pipeline, profile: OrNull(plan.profile), budgetBytes: schedule.budget, budgetSource: schedule.budgetSource,
                steps: steps, peakBytes: schedule.peakBytes, loads: schedule.loadCount, unloads: schedule.unloadCount,
                loops: schedule.loops.map { Loop(critic: $0.critic, stage: $0.reviewed, staysResident: $0.staysResident) },
                branches: schedule.branches.map {
                    Branch(
                        router: $0.router, branch: $0.branch, stages: $0.stages, loads: $0.loads.count,
                        loadModels: $0.loads.map(\.description), unloads: $0.unloadCount, peakBytes: $0.peakBytes)
                },
                unknownFootprints: schedule.unknownFootprints.map(\.description), preloads: schedule.preloadCount,
                preloadingOff: OrNull(schedule.preloadingOff), peakBytesWithPreloads: schedule.peakWithPreloads,
                reach: ReachFormatter.document(reach)))
    }
}
