import BatonEngine
import Foundation

/// A real llama-server router with Gemma 3 270M, started by `scripts/start-llama-router.sh` in its own
/// state folder, for integration tests. `scripts/test.sh` builds the server and fetches the model first
/// (cached), so starting one takes about a second.
public final class LlamaRouter: @unchecked Sendable {
    /// The base URL (`http://127.0.0.1:PORT`).
    public let url: String
    /// The state folder (models, log, pid).
    public let stateDirectory: String
    /// The port it listens on.
    public let port: Int

    /// Starts a router with `--models-max 0` (no limit of its own) and the given model names.
    ///
    /// `chatTemplate` is a Jinja file given to the server instead of `scripts/templates/gemma.jinja`.
    /// `embeddings` maps more model names to GGUF files served as embedding models (`--embedding NAME=GGUF`:
    /// `--embeddings --pooling mean` for that model only).
    public init(
        names: [String] = ["planner", "critic", "executor"], port: Int? = nil, stateDirectory: String? = nil,
        chatTemplate: String? = nil, embeddings: [String: String] = [:]
    ) async throws {
        let state = stateDirectory ?? NSTemporaryDirectory() + "baton-router-\(UUID().uuidString.prefix(8))"
        var arguments = ["--state-dir", state, "--models-max", "0", "--names", names.joined(separator: " "), "--timeout", "120"]
        if let port { arguments += ["--port", String(port)] }
        if let chatTemplate { arguments += ["--chat-template-file", chatTemplate] }
        for (name, file) in embeddings.sorted(by: { $0.key < $1.key }) { arguments += ["--embedding", "\(name)=\(file)"] }
        let result = try await Self.script("start-llama-router.sh", arguments)
        guard result.status == 0, let line = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("BATON_LLAMA_URL=") })
        else {
            throw RouterError(message: "start-llama-router.sh failed (\(result.status)):\n\(result.stderr)")
        }
        url = String(line.dropFirst("BATON_LLAMA_URL=".count))
        self.port = Int(url.split(separator: ":").last ?? "") ?? 0
        self.stateDirectory = state
        ownsState = stateDirectory == nil
    }

    /// Whether the state folder is a temporary one of this router's, removed when it stops (unless
    /// `BATON_KEEP_ROUTER_STATE` is set, to read its `llama-server.log`).
    private let ownsState: Bool

    private let stopped = NSLock()
    private var isStopped = false

    /// Stops the router and its model processes (once).
    public func stop() async {
        let first = stopped.withLock {
            defer { isStopped = true }
            return !isStopped
        }
        guard first else { return }
        _ = try? await Self.script("stop-llama-router.sh", ["--state-dir", stateDirectory, "--timeout", "3"])
        if ownsState, ProcessInfo.processInfo.environment["BATON_KEEP_ROUTER_STATE"] == nil {
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
    }

    /// Starts a router, runs `body` with it and stops it, whether or not `body` throws (an awaiting `defer`).
    public static func with<T>(
        names: [String] = ["planner", "critic", "executor"], port: Int? = nil, stateDirectory: String? = nil,
        chatTemplate: String? = nil, embeddings: [String: String] = [:], _ body: (LlamaRouter) async throws -> T
    ) async throws -> T {
        let router = try await LlamaRouter(
            names: names, port: port, stateDirectory: stateDirectory, chatTemplate: chatTemplate, embeddings: embeddings)
        do {
            let value = try await body(router)
            await router.stop()
            return value
        } catch {
            await router.stop()
            throw error
        }
    }

    /// SIGKILLs the router's whole process group (the router and its model processes), as a crash would.
    public func kill() async {
        if let text = try? String(contentsOfFile: stateDirectory + "/pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            Foundation.kill(-pid, SIGKILL)
            Foundation.kill(pid, SIGKILL)
        }
        try? await Task.sleep(for: .milliseconds(300))
    }

    /// The models the router lists with their status (`GET /models`).
    public func models() async -> [String: String] {
        guard let models = try? await LlamaServerClient(baseURL: url).models() else { return [:] }
        return Dictionary(models.map { ($0.id, $0.status) }) { first, _ in first }
    }

    /// Watches `GET /models` every 20 ms until stopped, recording every state it saw.
    public final class Watcher: @unchecked Sendable {
        private let lock = NSLock()
        private var snapshots: [[String: String]] = []
        private var task: Task<Void, Never>?

        init(_ router: LlamaRouter) {
            task = Task { [weak self] in
                while !Task.isCancelled {
                    let models = await router.models()
                    guard let self else { return }
                    self.record(models)
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }

        private func record(_ models: [String: String]) {
            lock.withLock {
                if !models.isEmpty, snapshots.last != models { snapshots.append(models) }
            }
        }

        /// Stops watching and returns the distinct states seen, in order.
        public func stop() async -> [[String: String]] {
            task?.cancel()
            try? await Task.sleep(for: .milliseconds(50))
            return lock.withLock { snapshots }
        }
    }

    /// Starts watching the router's models.
    public func watch() -> Watcher { Watcher(self) }

    static func script(_ name: String, _ arguments: [String]) async throws -> BatonProcess.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Fixtures.path("scripts/\(name)")] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.repositoryRoot)
        return try await BatonProcess.Running(process: process, out: Pipe(), err: Pipe()).wait()
    }

    /// The converted all-MiniLM-L6-v2 GGUF (`BATON_EMBED_GGUF`, set by `scripts/test.sh` from
    /// `scripts/setup-embedding-model.sh`), nil when unset or missing.
    public static var embeddingModel: String? {
        guard let path = ProcessInfo.processInfo.environment["BATON_EMBED_GGUF"], !path.isEmpty,
            FileManager.default.fileExists(atPath: path)
        else { return nil }
        return path
    }

    /// Whether integration tests on the real server are switched off (`BATON_SKIP_INTEGRATION=1`).
    public static var skipped: Bool { ProcessInfo.processInfo.environment["BATON_SKIP_INTEGRATION"] == "1" }
}

/// The router could not be started.
public struct RouterError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
