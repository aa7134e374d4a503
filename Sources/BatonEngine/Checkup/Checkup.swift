import BatonSpec
import Foundation

/// What `baton doctor` checks: each runtime of a profile, the machine's memory, the run database.
public enum Checkup {
    /// One line of the report.
    public struct Finding: Sendable, Hashable {
        /// What was checked (`runtime local (llama-server)`, `memory`, `database`).
        public var subject: String
        /// Whether it is usable.
        public var ok: Bool
        /// What was found, or what is wrong and how to fix it.
        public var detail: String
    }

    /// What doctor says about where the profile in use came from, when no file provides it: where it looked, and
    /// that the built-in default profile is used. Nil when a profile was named or a file named `default` was found.
    public static func profileFinding(workspace: Workspace, requested: String?) -> Finding? {
        guard workspace.usesBuiltInDefault(requested: requested) else { return nil }
        return Finding(
            subject: "profile", ok: true,
            detail: "no profile file named 'default' in \(workspace.profileSearchPath.joined(separator: ", ")); using the built-in "
                + "default profile (Ollama at \(BuiltInProfiles.environment(for: workspace.environment)["BATON_OLLAMA_URL"] ?? "?"), "
                + "roles mapped by capability); 'baton init' writes one for this machine")
    }

    /// Checks every runtime of `profile` (reachable, version, models present), the memory, and the database at `database`.
    public static func check(profile: ResolvedProfile?, database: String, machine: MachineMemory = .current()) async -> [Finding] {
        var findings: [Finding] = []
        for runtime in profile?.spec.runtimes ?? [] {
            findings.append(await check(runtime))
        }
        let available = machine.available.map { ", \(ByteCount(bytes: $0)) available now" } ?? ""
        var memory =
            "\(ByteCount(bytes: machine.total)) in all\(available); 'memory_budget: auto' gives \(ByteCount(bytes: machine.autoBudget))"
        if let budget = profile?.spec.memoryBudget { memory += "; the profile's budget is \(budget)" }
        findings.append(Finding(subject: "memory", ok: true, detail: memory))
        let state = ThermalSensors.platform(environment: ProcessInfo.processInfo.environment).currentState()
        var thermal = state.map { "\($0)" } ?? "unknown (no thermal zone with trip points), so runs never pause"
        if let policy = profile?.spec.thermal, policy.enabled { thermal += "; the profile pauses at \(policy.pauseAt)" }
        findings.append(Finding(subject: "thermal", ok: true, detail: thermal))
        findings.append(checkDatabase(database))
        return findings
    }

    static func check(_ runtime: RuntimeSpec) async -> Finding {
        let subject = "runtime \(runtime.name) (\(runtime.kind.rawValue))"
        guard let url = runtime.url else {
            return Finding(
                subject: subject, ok: runtime.kind == .echo, detail: runtime.kind == .echo ? "built in" : "no url in the profile")
        }
        do {
            switch runtime.kind {
            case .ollama:
                let client = OllamaClient(baseURL: url, connectTimeout: 5)
                let version = try await client.version()
                let models = try await client.installedModels().map(\.name)
                return Finding(subject: subject, ok: true, detail: "\(url): Ollama \(version); models: \(list(models))")
            case .llamaServer:
                let client = LlamaServerClient(baseURL: url)
                let models = try await client.models()
                let loaded = models.filter { $0.status == "loaded" }.map(\.id)
                return Finding(
                    subject: subject, ok: true,
                    detail: "\(url): router with models \(list(models.map(\.id))); loaded: \(list(loaded))")
            case .openai, .anthropic:
                try AsyncHTTPTransport.checkReachable(url)
                return Finding(subject: subject, ok: true, detail: "\(url) accepts connections; \(keyStatus(runtime))")
            case .echo:
                return Finding(subject: subject, ok: true, detail: "built in")
            }
        } catch {
            return Finding(subject: subject, ok: false, detail: "\(error)")
        }
    }

    /// Where a cloud runtime's key would come from, without opening the key file (that needs the passphrase).
    static func keyStatus(_ runtime: RuntimeSpec, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let variable = runtime.apiKeyEnv, environment[variable]?.isEmpty == false { return "key from \(variable)" }
        let file = KeyFile.defaultPath(environment: environment)
        let variable = runtime.apiKeyEnv.map { "\($0) is not set; " } ?? ""
        if FileManager.default.fileExists(atPath: file) {
            return "\(variable)a run will look for '\(runtime.name)' in the key file \(file)"
        }
        return "\(variable)no key file; set the variable or run 'baton keys set \(runtime.name)'"
    }

    static func checkDatabase(_ path: String) -> Finding {
        guard FileManager.default.fileExists(atPath: path) else {
            return Finding(subject: "database", ok: true, detail: "\(path) does not exist yet; the first run creates it")
        }
        do {
            let store = try RunStore(path: path)
            let integrity = try store.integrityCheck()
            let runs = try store.runs(limit: 100_000).count
            return Finding(
                subject: "database", ok: integrity == "ok", detail: "\(path): \(runs) run\(runs == 1 ? "" : "s"), integrity \(integrity)")
        } catch {
            return Finding(subject: "database", ok: false, detail: "\(error)")
        }
    }

    private static func list(_ names: [String]) -> String {
        names.isEmpty
            ? "none"
            : names.count > 8 ? names.prefix(8).joined(separator: ", ") + " and \(names.count - 8) more" : names.joined(separator: ", ")
    }
}
