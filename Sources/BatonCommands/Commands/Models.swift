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

        @OptionGroup var discovery: DiscoveryOptions<ModelsDiscoveryHelp>

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
            if let discovered = await loader.discoveredInventory(profile: profile, measured: measured, discover: discovery.discover) {
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

    /// A runtime of `baton models --json`.
    struct Runtime: Encodable {
        var name: String
        var kind: String
        var status: String
        var models: Int?
        var reason: String?
    }

    /// What discovery found about a model, as `baton models --json` writes it.
    struct Discovered: Encodable {
        var family: String?
        var parameterCount: Int64?
        var parameterSize: String?
        var quantization: String?
        var contextLength: Int?
        var fileSize: Int64?
        var path: String?

        enum CodingKeys: String, CodingKey {
            case family, quantization, path
            case parameterCount = "parameter_count"
            case parameterSize = "parameter_size"
            case contextLength = "context_length"
            case fileSize = "file_size"
        }
    }

    /// A model of `baton models --json`.
    struct Model: Encodable {
        var name: String
        var runtime: OrNull<String>
        var inRegistry: Bool
        var installed: String
        var capabilities: [String: Double]
        var rolesChosen: [String]
        var rolesListed: [String]
        var fits: OrNull<Bool>
        var contextLength: OrNull<Int>
        var footprintBytes: Int64?
        var footprintSource: String?
        var footprintContext: Int?
        var discovered: Discovered?

        enum CodingKeys: String, CodingKey {
            case name, runtime, installed, capabilities, fits, discovered
            case inRegistry = "in_registry"
            case rolesChosen = "roles_chosen"
            case rolesListed = "roles_listed"
            case contextLength = "context_length"
            case footprintBytes = "footprint_bytes"
            case footprintSource = "footprint_source"
            case footprintContext = "footprint_context"
        }
    }

    /// The document `baton models --json` prints.
    struct Document: Encodable {
        var profile: String
        var budgetBytes: OrNull<Int64>
        var runtimes: [Runtime]
        var models: [Model]

        enum CodingKeys: String, CodingKey {
            case profile, runtimes, models
            case budgetBytes = "budget_bytes"
        }
    }

    static func json(_ listing: ModelListing) throws -> String {
        let runtimes = listing.runtimes.map { status in
            var runtime = Runtime(name: status.name, kind: status.kind.rawValue, status: "not asked")
            switch status.models {
            case .known(let models):
                runtime.status = "reachable"
                runtime.models = models.count
            case .unknown(let reason):
                runtime.status = "unreachable"
                runtime.reason = reason
            case nil:
                break
            }
            return runtime
        }
        let models = listing.rows.map { row in
            Model(
                name: row.name, runtime: OrNull(row.runtime), inRegistry: row.inRegistry, installed: row.availability.installedText,
                capabilities: row.capabilities, rolesChosen: row.chosenBy, rolesListed: row.listedBy, fits: OrNull(row.fits),
                contextLength: OrNull(row.contextLength), footprintBytes: row.footprint?.bytes.bytes,
                footprintSource: row.footprint?.source.rawValue, footprintContext: row.footprint?.contextSize,
                discovered: row.details.map { details in
                    Discovered(
                        family: details.family, parameterCount: details.parameterCount, parameterSize: details.parameterSize,
                        quantization: details.quantization, contextLength: details.contextLength, fileSize: details.fileSize,
                        path: details.path)
                })
        }
        return try JSONOutput.text(
            Document(profile: listing.profile, budgetBytes: OrNull(listing.budget?.bytes.bytes), runtimes: runtimes, models: models))
    }
}

/// Scores as the role mapping writes them.
enum RoleMapperFormat {
    /// `7`, `7.5`.
    static func score(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(value) }
}
