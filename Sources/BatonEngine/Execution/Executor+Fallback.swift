import BatonSpec
import Foundation

extension Executor {
    /// Runs one round of `stage` on the first model of its chain that can serve it.
    ///
    /// A model that is missing, cannot load, runs out of memory or whose runtime stays unreachable hands the
    /// stage to the next one, recorded as an event. A stage that fell back keeps its new model for its later
    /// rounds. A runtime found unreachable is remembered for the rest of the run: its other models, in this
    /// chain and in later stages, are skipped without a request.
    func runOnChain(_ stage: PlannedStage, round: Int, rendered: RenderedStage, state: inout RunState) async throws -> StageResult {
        let chain = stage.models
        guard !chain.isEmpty else {
            throw StageFailure(message: "stage '\(stage.name)' has no model", runtimeUnavailable: false)
        }
        var index = min(state.modelIndex[stage.name] ?? 0, chain.count - 1)
        var tried: [String] = []
        while true {
            var failure: StageFailure
            let runtimeName = Self.runtimeName(of: chain[index], state: state)
            if let dead = state.deadRuntime(runtimeName) {
                failure = StageFailure(message: dead.message, runtimeUnavailable: true, fallbackReason: dead.reason)
                failure.deadRuntime = runtimeName
            } else {
                do {
                    return try await runStage(stage, model: chain[index], round: round, rendered: rendered, state: &state)
                } catch let thrown as StageFailure {
                    failure = thrown
                }
                guard failure.fallbackReason != nil else { throw failure }
                if failure.runtimeUnavailable, let runtimeName {
                    failure = try runtimeFoundDown(
                        runtimeName, failure: failure, stage: stage, skipping: chain[(index + 1)...], state: &state)
                }
            }
            let reason = failure.fallbackReason ?? "failed"
            tried.append("\(chain[index]) (\(reason))")
            // The next model whose runtime is not known to be down.
            var next = index + 1
            while next < chain.count, state.deadRuntime(Self.runtimeName(of: chain[next], state: state)) != nil {
                next += 1
            }
            guard next < chain.count else {
                throw Self.chainExhausted(stage, failure: failure, tried: tried, chain: chain, from: index, state: state)
            }
            try recordFallback(stage, chain: chain, from: index, to: next, reason: reason, failure: failure, round: round, state: state)
            index = next
            state.modelIndex[stage.name] = index
        }
    }

    /// Remembers runtime `name` as down for the rest of the run, records it with the models of `chain` it
    /// skips, and returns the failure that names it and its fix.
    private func runtimeFoundDown(
        _ name: String, failure: StageFailure, stage: PlannedStage, skipping chain: ArraySlice<ResolvedModel>, state: inout RunState
    ) throws -> StageFailure {
        let down = Self.runtimeDown(name, failure: failure, state: state)
        state.deadRuntimes[name] = down
        var named = StageFailure(message: down.message, runtimeUnavailable: true, fallbackReason: failure.fallbackReason)
        named.deadRuntime = name
        named.firstHand = failure.message
        let skipped = chain.filter { Self.runtimeName(of: $0, state: state) == name }
        try store.appendEvent(
            state.runID, kind: .runtimeUnreachable, stage: stage.name,
            payload: try Self.encode([
                "runtime": name, "error": down.error, "fix": down.fix, "skipped": skipped.map(\.description).joined(separator: ", "),
            ]))
        observer(
            .runtimeUnreachable(stage: stage.name, runtime: name, error: down.error, fix: down.fix, skipped: skipped.map(\.description)))
        return named
    }

    /// Records that `stage` moves from `chain[index]` to `chain[next]`, naming the models skipped between them.
    private func recordFallback(
        _ stage: PlannedStage, chain: [ResolvedModel], from index: Int, to next: Int, reason: String, failure: StageFailure, round: Int,
        state: RunState
    ) throws {
        let (from, to) = (chain[index], chain[next])
        var payload = [
            "from": from.description, "to": to.description, "reason": reason, "error": failure.message, "round": String(round),
        ]
        let skipped = chain[(index + 1)..<next].map(\.description)
        if !skipped.isEmpty { payload["skipped"] = skipped.joined(separator: ", ") }
        try store.appendEvent(state.runID, kind: .modelFallback, stage: stage.name, payload: try Self.encode(payload))
        observer(.modelFallback(stage: stage.name, from: from.description, to: to.description, reason: reason))
    }

    /// The name of the runtime serving `model` in this run.
    static func runtimeName(of model: ResolvedModel, state: RunState) -> String? {
        state.snapshot.forcedRuntime ?? model.runtime
    }

    /// What to tell the user about runtime `name`, found unreachable (or unusable: no key, no url) by
    /// `failure`: its error and the command that starts it, or what to check.
    static func runtimeDown(_ name: String, failure: StageFailure, state: RunState) -> DeadRuntime {
        let spec = state.snapshot.profile?.spec.runtime(named: name)
        // The runtime's own words, without the "stage 'x' failed after n tries:" prefix.
        var error = failure.message
        if error.hasPrefix("stage '"), let range = error.range(of: ": ") { error = String(error[range.upperBound...]) }
        let reason = failure.fallbackReason ?? "runtime unreachable"
        guard reason == "runtime unreachable" else {
            // No key, no url, an unknown runtime: the error names the fix already.
            // "runtime 'cloud' has no API key; ..." names the runtime already.
            let message = error.hasPrefix("runtime '\(name)' ") ? error : "runtime '\(name)' is not usable: \(error)"
            return DeadRuntime(message: message, error: error, fix: "", reason: reason)
        }
        let url = spec?.url ?? ""
        let fix: String
        switch spec?.kind {
        case .ollama:
            let components = URLComponents(string: url)
            let host = components?.host ?? "127.0.0.1"
            let port = components?.port ?? 11434
            // Ollama listens where OLLAMA_HOST says (default 127.0.0.1:11434).
            let isDefault = (host == "127.0.0.1" || host == "localhost") && port == 11434
            fix = isDefault ? "start it with: ollama serve" : "start it with: OLLAMA_HOST=\(host):\(port) ollama serve"
        case .llamaServer:
            fix = "start llama-server at \(url) (scripts/start-llama-router.sh starts a router and prints its URL)"
        case .openai, .anthropic:
            fix = "check the network and the runtime's url (\(url)) in the profile"
        default:
            fix = "check runtime '\(name)' in the profile"
        }
        return DeadRuntime(message: "runtime '\(name)' is not reachable (\(error)); \(fix)", error: error, fix: fix, reason: reason)
    }

    /// The failure of a stage none of whose models could run, naming each unreachable runtime once.
    static func chainExhausted(
        _ stage: PlannedStage, failure: StageFailure, tried: [String], chain: [ResolvedModel], from index: Int, state: RunState
    ) -> StageFailure {
        var failure = failure
        let dead = chain.compactMap { runtimeName(of: $0, state: state) }.reduce(into: [String]()) { names, name in
            if !names.contains(name), state.deadRuntime(name) != nil { names.append(name) }
        }
        if failure.runtimeUnavailable, !dead.isEmpty {
            // Every model left was on a runtime that is down: one sentence per runtime, with its fix. The last
            // failure that was tried (not skipped) leads, as it happened ("stage 'x' failed after 2 tries: ...").
            var sentences: [String] = []
            var head = "stage '\(stage.name)' cannot run: "
            if let firstHand = failure.firstHand, let name = failure.deadRuntime {
                head = firstHand + "; "
                if let fix = state.deadRuntime(name)?.fix, !fix.isEmpty {
                    sentences.append("runtime '\(name)' is not reachable: \(fix)")
                }
            }
            for name in dead where failure.firstHand == nil || name != failure.deadRuntime {
                if let down = state.deadRuntime(name) { sentences.append(down.message) }
            }
            let others = tried.count > dead.count ? "; other models of its chain: \(tried.joined(separator: ", "))" : ""
            failure.message = head + sentences.joined(separator: "; ") + others
        } else if tried.count > 1 {
            failure.message += "; every model of its chain failed: \(tried.joined(separator: ", "))"
        }
        return failure
    }

    /// Why `error` moves a stage to its next model, or nil when another model would not help (a bad
    /// answer, a timeout, an injected fault). Every load failure qualifies; of generation failures, a
    /// missing model, running out of memory and an unreachable runtime (after its retries) do.
    static func fallbackReason(_ error: RuntimeError, loading: Bool) -> String? {
        switch error.code {
        case .modelNotFound: return "model not found"
        case .outOfMemory: return "out of memory"
        case .unreachable: return "runtime unreachable"
        default: return loading ? "load failed" : nil
        }
    }
}

/// A stage that failed for good; the run fails with this message.
struct StageFailure: Error {
    var message: String
    var runtimeUnavailable: Bool
    /// Set when the failure is the model's or its runtime's, so the next model of the chain may succeed.
    var fallbackReason: String? = nil
    /// The runtime found unreachable, when that is the failure.
    var deadRuntime: String? = nil
    /// The message of the attempt that found the runtime unreachable (nil when its models were skipped).
    var firstHand: String? = nil
}

/// A runtime found unreachable in a run: what went wrong and what starts it.
struct DeadRuntime: Sendable {
    /// The sentence the run fails with when no other model can run.
    var message: String
    /// The runtime's error.
    var error: String
    /// The command that starts it, or what to check (empty when the error says).
    var fix: String
    /// The fallback reason recorded for its models (`runtime unreachable`, `runtime not usable`).
    var reason: String
}
