import BatonSpec
import Foundation
import Yams

/// `baton profiles export`: a resolved profile (its `extends` chain merged) written back as one standalone profile
/// file, which decodes and resolves on its own to the same profile.
///
/// The file is written from the merged values, not copied from the sources, so `${VAR}` references appear with the
/// values they had when the profile was loaded, and comments of the sources are not kept.
public enum ProfileExport {
    /// Why a profile cannot be written as a file that reads back the same.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// A value contains `${`, which a profile file would expand again when read.
        case expandableText(path: String)

        public var description: String {
            switch self {
            case .expandableText(let path):
                return "the value of \(path) contains '${', which a profile file would expand when read; export cannot write "
                    + "it as it is: change the value in the profile"
            }
        }
    }

    /// The standalone YAML file of `profile`, with a comment naming the chain it was merged from.
    ///
    /// The name is left out of the file, so the profile takes the name of the file it is saved as.
    ///
    /// - Throws: ``Problem`` when a value cannot be written so that it reads back the same.
    public static func yaml(of profile: ResolvedProfile) throws -> String {
        var writer = Writer()
        let root = try writer.root(profile.spec)
        let body = try Yams.serialize(node: root, width: -1, allowUnicode: true)
        let chain = profile.chain.joined(separator: " extends ")
        return "# The profile '\(profile.spec.name)' exported by 'baton profiles export' with its chain merged (\(chain)).\n"
            + "# Standalone: it extends nothing.\n" + body
    }

    /// Builds the YAML nodes, in the order the profile format documents its keys.
    private struct Writer {
        /// A plain scalar: numbers, booleans, enums and durations, whose text the decoders parse.
        func plain(_ text: String) -> Node { Node(text, .implicit, .plain) }

        /// A free text, double-quoted so no YAML reading can take it for a number, a boolean or null.
        func text(_ value: String, at path: String) throws -> Node {
            guard !value.contains("${") else { throw Problem.expandableText(path: path) }
            return Node(value, .implicit, .doubleQuoted)
        }

        func mapping(_ pairs: [(String, Node)]) -> Node {
            Node(pairs.map { (Node($0.0, .implicit, .plain), $0.1) }, .implicit, .block)
        }

        /// A number as written by hand: `4` rather than `4.0`.
        func number(_ value: Double) -> Node {
            value == value.rounded() && abs(value) < 1e15 ? plain("\(Int64(value))") : plain("\(value)")
        }

        /// Seconds as a duration the decoder reads back exactly, in the largest whole unit (`10m`, `90s`, `0.25s`).
        func duration(_ seconds: Double) -> Node {
            guard seconds == seconds.rounded(), abs(seconds) < 1e15 else { return plain("\(seconds)s") }
            let whole = Int64(seconds)
            if whole != 0, whole % 3600 == 0 { return plain("\(whole / 3600)h") }
            if whole != 0, whole % 60 == 0 { return plain("\(whole / 60)m") }
            return plain("\(whole)s")
        }

        /// A size as people write it (`5.7 GB`) when that reads back to the same bytes, else in bytes.
        func size(_ size: ByteCount) -> Node {
            let shown = size.description
            return ByteCount(parsing: shown)?.bytes == size.bytes ? plain(shown) : plain("\(size.bytes)B")
        }

        mutating func root(_ spec: ProfileSpec) throws -> Node {
            var pairs: [(String, Node)] = [("version", plain("\(spec.version)"))]
            if let description = spec.description { pairs.append(("description", try text(description, at: "description"))) }
            switch spec.memoryBudget {
            case .auto?: pairs.append(("memory_budget", plain("auto")))
            case .fixed(let size)?: pairs.append(("memory_budget", self.size(size)))
            case nil: break
            }
            if let runtime = spec.defaultRuntime { pairs.append(("default_runtime", try text(runtime, at: "default_runtime"))) }
            if !spec.runtimes.isEmpty {
                pairs.append(("runtimes", mapping(try spec.runtimes.map { ($0.name, try runtime($0)) })))
            }
            if !spec.models.isEmpty {
                pairs.append(("models", mapping(try spec.models.map { ($0.name, try model($0)) })))
            }
            if !spec.roles.isEmpty {
                pairs.append(("roles", mapping(try spec.roles.map { ($0.name, try role($0)) })))
            }
            let defaults = try settings(spec.defaults, at: "defaults")
            if !defaults.isEmpty { pairs.append(("defaults", mapping(defaults))) }
            if let thermal = spec.thermal {
                pairs.append(
                    (
                        "thermal",
                        mapping([
                            ("enabled", plain(thermal.enabled ? "true" : "false")), ("pause_at", plain(thermal.pauseAt.rawValue)),
                            ("max_wait", duration(thermal.maxWait)), ("poll_interval", duration(thermal.pollInterval)),
                        ])
                    ))
            }
            return mapping(pairs)
        }

        func runtime(_ runtime: RuntimeSpec) throws -> Node {
            let path = "runtimes.\(runtime.name)"
            var pairs: [(String, Node)] = [("kind", plain(runtime.kind.rawValue))]
            if let url = runtime.url { pairs.append(("url", try text(url, at: "\(path).url"))) }
            if let variable = runtime.apiKeyEnv { pairs.append(("api_key_env", try text(variable, at: "\(path).api_key_env"))) }
            if !runtime.options.isEmpty {
                let options = try runtime.options.sorted { $0.key < $1.key }.map {
                    ($0.key, try text($0.value, at: "\(path).options.\($0.key)"))
                }
                pairs.append(("options", mapping(options)))
            }
            return mapping(pairs)
        }

        func model(_ model: ModelEntry) throws -> Node {
            let path = "models.\(model.name)"
            var pairs: [(String, Node)] = []
            if let runtime = model.runtime { pairs.append(("runtime", try text(runtime, at: "\(path).runtime"))) }
            if let footprint = model.footprint { pairs.append(("footprint", size(footprint))) }
            if let length = model.contextLength { pairs.append(("context_length", plain("\(length)"))) }
            if !model.capabilities.isEmpty {
                pairs.append(("capabilities", mapping(model.capabilities.sorted { $0.key < $1.key }.map { ($0.key, number($0.value)) })))
            }
            if let file = model.file { pairs.append(("file", try text(file, at: "\(path).file"))) }
            // An entry with no keys is still an entry: `{}` keeps it a mapping.
            return pairs.isEmpty ? Node([(Node, Node)](), .implicit, .flow) : mapping(pairs)
        }

        func role(_ role: RoleSpec) throws -> Node {
            let path = "roles.\(role.name)"
            var pairs: [(String, Node)] = []
            if let models = role.models {
                pairs.append(("models", Node(try models.map { try text($0.text, at: "\(path).models") }, .implicit, .flow)))
            }
            if let capability = role.capability { pairs.append(("capability", try text(capability, at: "\(path).capability"))) }
            pairs += try settings(role.settings, at: path)
            return pairs.isEmpty ? Node([(Node, Node)](), .implicit, .flow) : mapping(pairs)
        }

        /// The sampling keys a profile's `defaults` and roles take (never `model` or `runtime`).
        func settings(_ settings: StageSettings, at path: String) throws -> [(String, Node)] {
            var pairs: [(String, Node)] = []
            if let value = settings.temperature { pairs.append(("temperature", number(value))) }
            if let value = settings.topP { pairs.append(("top_p", number(value))) }
            if let value = settings.topK { pairs.append(("top_k", plain("\(value)"))) }
            if let value = settings.maxTokens { pairs.append(("max_tokens", plain("\(value)"))) }
            if let value = settings.seed { pairs.append(("seed", plain("\(value)"))) }
            if let value = settings.stop {
                pairs.append(("stop", Node(try value.map { try text($0, at: "\(path).stop") }, .implicit, .flow)))
            }
            if let value = settings.numCtx { pairs.append(("num_ctx", plain("\(value)"))) }
            if let value = settings.timeout { pairs.append(("timeout", duration(value))) }
            if let value = settings.think { pairs.append(("think", plain(value.rawValue))) }
            if let retry = settings.retry {
                pairs.append(
                    (
                        "retry",
                        mapping([
                            ("max_attempts", plain("\(retry.maxAttempts)")), ("initial_backoff", duration(retry.initialBackoff)),
                            ("max_backoff", duration(retry.maxBackoff)), ("multiplier", number(retry.multiplier)),
                        ])
                    ))
            }
            return pairs
        }
    }
}
