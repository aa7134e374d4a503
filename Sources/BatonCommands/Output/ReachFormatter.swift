import BatonEngine
import BatonSpec
import Foundation

/// The part of `baton plan` that says what a run would reach (``RunReach``): hosts, keys by name, commands.
enum ReachFormatter {
    /// The runtimes grouped by where they send: each host:port once, in the order the plan first uses it.
    struct HostGroup {
        /// `host:port`, or nil for runtimes that reach no host (echo, an undeclared runtime, a missing url).
        var hostAndPort: String?
        var runtimes: [RunReach.Runtime]
    }

    static func groups(_ reach: RunReach) -> [HostGroup] {
        var groups: [HostGroup] = []
        for runtime in reach.runtimes where runtime.hostAndPort != nil {
            if let index = groups.firstIndex(where: { $0.hostAndPort == runtime.hostAndPort }) {
                groups[index].runtimes.append(runtime)
            } else {
                groups.append(HostGroup(hostAndPort: runtime.hostAndPort, runtimes: [runtime]))
            }
        }
        return groups
    }

    /// A runtime as a line names it: `local (ollama) for plan, review`.
    static func describe(_ runtime: RunReach.Runtime) -> String {
        "runtime \(runtime.name) (\(runtime.kind?.rawValue ?? "not declared in the profile")) for \(runtime.stages.joined(separator: ", "))"
    }

    /// The names a key is looked up by, in order: `environment variable OPENAI_API_KEY, else key file entry gpt, else
    /// key file entry OPENAI_API_KEY`.
    static func lookup(_ key: RunReach.Key) -> String {
        let variable = key.environmentVariable.map { ["environment variable \($0)"] } ?? []
        return (variable + key.keyFileEntries.map { "key file entry \($0)" }).joined(separator: ", else ")
    }

    /// Where a runtime's requests go, as the hosts table's second column says it.
    static func place(_ runtime: RunReach.Runtime) -> String {
        if runtime.hostAndPort != nil { return runtime.isLoopback ? "this machine" : "remote" }
        switch runtime.kind {
        case .echo: return "inside baton"
        case nil: return "not declared"
        case .some: return "no url"
        }
    }

    /// The section's lines, after a blank line, ending in a newline.
    static func text(_ reach: RunReach) -> String {
        var lines = ["", "hosts a run would contact:"]
        // Each host once, its runtimes under it; then the runtimes that reach no host (echo answers inside baton).
        let rows =
            groups(reach).flatMap { group in group.runtimes.enumerated().map { ($0.offset == 0 ? group.hostAndPort ?? "" : "", $0.element) }
            }
            + reach.runtimes.filter { $0.hostAndPort == nil }.map { ("none", $0) }
        let hostWidth = rows.map(\.0.count).max() ?? 0
        let placeWidth = rows.map { place($0.1).count }.max() ?? 0
        for (host, runtime) in rows {
            lines.append(
                "  " + host.padding(toLength: hostWidth, withPad: " ", startingAt: 0) + "  "
                    + place(runtime).padding(toLength: placeWidth, withPad: " ", startingAt: 0) + "  " + describe(runtime))
        }
        if reach.keys.isEmpty {
            lines.append("keys a run would use: none")
        } else {
            lines.append("keys a run would use (by name; a value is never shown):")
            for key in reach.keys {
                let destination = key.destination.map { " (to \($0))" } ?? ""
                let optional = key.isRequired ? "" : "; sent if one is set, the runtime works without"
                lines.append("  \(key.runtime)\(destination): \(lookup(key))\(optional)")
            }
        }
        if reach.commands.isEmpty {
            lines.append("commands and MCP servers a run would start: none")
        } else {
            lines.append("commands and MCP servers a run would start:")
            for command in reach.commands {
                lines.append(
                    "  \(command.kind.rawValue) \(command.launch.joined(separator: " ")) for \(command.stages.joined(separator: ", "))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A runtime of `baton plan --json`'s `reach`.
    struct Runtime: Encodable {
        var name: String
        var kind: OrNull<String>
        var url: OrNull<String>
        var host: OrNull<String>
        var port: OrNull<Int>
        var loopback: Bool
        var stages: [String]
        var models: [String]
    }

    /// A key of `baton plan --json`'s `reach`: names only.
    struct Key: Encodable {
        var runtime: String
        var environmentVariable: OrNull<String>
        var keyFileEntries: [String]
        var destination: OrNull<String>
        var required: Bool

        enum CodingKeys: String, CodingKey {
            case runtime, destination, required
            case environmentVariable = "environment_variable"
            case keyFileEntries = "key_file_entries"
        }
    }

    /// A command or MCP server of `baton plan --json`'s `reach`.
    struct Command: Encodable {
        var kind: String
        var launch: [String]
        var stages: [String]
    }

    /// `baton plan --json`'s `reach` object.
    struct Document: Encodable {
        var runtimes: [Runtime]
        var keys: [Key]
        var commands: [Command]
    }

    static func document(_ reach: RunReach) -> Document {
        Document(
            runtimes: reach.runtimes.map {
                Runtime(
                    name: $0.name, kind: OrNull($0.kind?.rawValue), url: OrNull($0.url), host: OrNull($0.host), port: OrNull($0.port),
                    loopback: $0.isLoopback, stages: $0.stages, models: $0.models)
            },
            keys: reach.keys.map {
                Key(
                    runtime: $0.runtime, environmentVariable: OrNull($0.environmentVariable), keyFileEntries: $0.keyFileEntries,
                    destination: OrNull($0.destination), required: $0.isRequired)
            },
            commands: reach.commands.map { Command(kind: $0.kind.rawValue, launch: $0.launch, stages: $0.stages) })
    }
}
