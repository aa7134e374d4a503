import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton models`: the profile's registry joined with what its runtimes report.
    struct Models: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the models of a profile's registry and its runtimes: footprint, context, scores, fit, roles.",
            discussion: """
                Asks each Ollama and llama-server runtime of the profile which models it has (a runtime that does \
                not answer within a few seconds is listed as unreachable, and whether its models are installed is \
                unknown). Footprints come from, in order: a measurement at an earlier load (the run database), the \
                registry, the runtime's report for a loaded model, an estimate from the GGUF header, an estimate from \
                the runtime's metadata.
                """)

        @OptionGroup var profileOption: ProfileOption

        @Flag(help: "Print JSON.")
        var json = false

        @Flag(help: "Do not ask the runtimes; list the registry only.")
        var offline = false

        /// Footprints measured in earlier runs come from here.
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let workspace = Workspace.current()
            guard let name = workspace.profileName(requested: profileOption.resolvedName(environment: workspace.environment)) else {
                Console.error("error: no profile: pass --profile NAME or set BATON_PROFILE (no 'default' profile on the search path)")
                throw ExitCode(BatonExitCode.usage)
            }
            let loaded = try workspace.loadProfile(name)
            if !loaded.diagnostics.isEmpty {
                Console.error(DiagnosticFormatter.text(loaded.diagnostics, sources: loaded.sources, color: false), terminator: "")
            }
            guard let profile = loaded.profile, !loaded.diagnostics.hasErrors else { throw ExitCode.invalidPipeline }
            let loader = PlanLoader(workspace: workspace)
            let measured = loader.measuredFootprints(database: database.path(environment: workspace.environment))
            var inventory = ModelInventory()
            if let discovered = await loader.discoveredInventory(profile: profile, measured: measured, discover: !offline) {
                inventory = discovered
            } else {
                for (key, bytes) in measured {
                    inventory.measured[ModelInventory.key(runtime: key.runtime, name: key.name)] = ByteCount(bytes: bytes)
                }
                inventory.autoBudget = ByteCount(bytes: MachineMemory.current().autoBudget)
            }
            let listing = ModelListing.make(profile: profile, inventory: inventory)
            if json {
                Console.out(try ModelsFormatter.json(listing))
            } else {
                Console.out(ModelsFormatter.text(listing), terminator: "")
            }
        }
    }
}

/// `baton models` output.
enum ModelsFormatter {
    static func runtimeLine(_ status: ModelListing.RuntimeStatus) -> String {
        let head = "\(status.name) (\(status.kind.rawValue))"
        switch status.models {
        case .known(let models): return "\(head): reachable, \(models.count) model\(models.count == 1 ? "" : "s")"
        case .unknown(let reason): return "\(head): unreachable, installed models unknown: \(reason)"
        case nil:
            switch status.kind {
            case .openai, .anthropic: return "\(head): cloud, not asked"
            case .echo: return "\(head): built in"
            case .ollama, .llamaServer: return "\(head): not asked (--offline)"
            }
        }
    }

    static func scores(_ capabilities: [String: Double]) -> String {
        capabilities.isEmpty
            ? "-" : capabilities.sorted { $0.key < $1.key }.map { "\($0.key) \(RoleMapperFormat.score($0.value))" }.joined(separator: ", ")
    }

    static func roles(_ row: ModelListing.Row) -> String {
        let listed = row.listedBy.map { row.chosenBy.contains($0) ? "\($0)*" : $0 }
        let chosenOnly = row.chosenBy.filter { !row.listedBy.contains($0) }.map { "\($0)*" }
        let all = listed + chosenOnly
        return all.isEmpty ? "-" : all.joined(separator: ", ")
    }

    static func text(_ listing: ModelListing) -> String {
        var lines = ["models of profile \(listing.profile), memory budget \(listing.budget?.text ?? "unknown")", ""]
        lines.append("runtimes:")
        for status in listing.runtimes { lines.append("  " + runtimeLine(status)) }
        lines.append("")
        let header = ["model", "runtime", "installed", "footprint", "context", "scores", "fits", "roles"]
        let table = listing.rows.map { row -> [String] in
            let name: String = row.inRegistry ? row.name : row.name + " (discovered)"
            let footprint: String = row.footprint.map { "\($0.bytes) (\($0.source.label))" } ?? "unknown"
            let context: String = row.contextLength.map { String($0) } ?? "-"
            let fits: String = row.fits.map { $0 ? "yes" : "no" } ?? "?"
            return [
                name, row.runtime ?? "-", row.availability.installedText, footprint, context, scores(row.capabilities), fits, roles(row),
            ]
        }
        let widths = header.indices.map { column in ([header] + table).map { $0[column].count }.max() ?? 0 }
        for cells in [header] + table {
            let padded = cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            lines.append(padded.joined(separator: "  "))
        }
        lines.append("")
        lines.append("roles: * the role's mapping picks this model; the others list it as a preference")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `value`, or JSON null.
    static func orNull(_ value: Any?) -> Any { value ?? NSNull() }

    static func json(_ listing: ModelListing) throws -> String {
        let runtimes: [[String: Any]] = listing.runtimes.map { status in
            var object: [String: Any] = ["name": status.name, "kind": status.kind.rawValue]
            switch status.models {
            case .known(let models):
                object["status"] = "reachable"
                object["models"] = models.count
            case .unknown(let reason):
                object["status"] = "unreachable"
                object["reason"] = reason
            case nil:
                object["status"] = "not asked"
            }
            return object
        }
        let models: [[String: Any]] = listing.rows.map { row in
            var object: [String: Any] = [
                "name": row.name, "runtime": orNull(row.runtime), "in_registry": row.inRegistry,
                "installed": row.availability.installedText,
                "capabilities": row.capabilities, "roles_chosen": row.chosenBy, "roles_listed": row.listedBy,
                "fits": orNull(row.fits), "context_length": orNull(row.contextLength),
            ]
            if let footprint = row.footprint {
                object["footprint_bytes"] = footprint.bytes.bytes
                object["footprint_source"] = footprint.source.rawValue
                if let context = footprint.contextSize { object["footprint_context"] = context }
            }
            if let details = row.details {
                var facts: [String: Any] = [:]
                if let value = details.family { facts["family"] = value }
                if let value = details.parameterCount { facts["parameter_count"] = value }
                if let value = details.parameterSize { facts["parameter_size"] = value }
                if let value = details.quantization { facts["quantization"] = value }
                if let value = details.contextLength { facts["context_length"] = value }
                if let value = details.fileSize { facts["file_size"] = value }
                if let value = details.path { facts["path"] = value }
                object["discovered"] = facts
            }
            return object
        }
        let object: [String: Any] = [
            "profile": listing.profile, "budget_bytes": orNull(listing.budget?.bytes.bytes), "runtimes": runtimes, "models": models,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// Scores as the role mapping writes them.
enum RoleMapperFormat {
    /// `7`, `7.5`.
    static func score(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(value) }
}
