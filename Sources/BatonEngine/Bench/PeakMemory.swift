import BatonSpec
import Foundation

/// The peak resident memory of the llama-server process serving one model on this host, read from /proc.
///
/// A llama-server router runs each model in a child `llama-server ... --alias NAME --model PATH`, started at load and
/// stopped at unload; a single-model server is the process listening on the runtime's port. `VmHWM` in
/// /proc/PID/status is the process's peak resident set since it started, so sampling it often enough (after each
/// case, and every second while the candidate runs) and keeping the largest gives the model's peak; a child stopped
/// and started again between two samples loses what it reached in between. Linux only: elsewhere nothing is found.
public struct LlamaServerMemory: Sendable {
    /// The model's id on the router (its `--alias`, the GGUF file name without `.gguf`).
    public var model: String
    /// The runtime's port, to find a single-model server; nil when the URL gives none.
    public var port: Int?
    /// Where processes are listed (`/proc`; tests give a fake folder).
    public var procRoot: String

    /// A sampler of `model` served by the llama-server at `url` (which must be on this machine: see ``forRuntime``).
    public init(model: String, url: String, procRoot: String = "/proc") {
        self.model = model
        self.port = URLComponents(string: url)?.port
        self.procRoot = procRoot
    }

    /// A sampler for `model` on `runtime` when that is a llama-server on this machine; nil otherwise.
    public static func forRuntime(_ runtime: RuntimeSpec?, model: String) -> LlamaServerMemory? {
        guard let runtime, runtime.kind == .llamaServer, let url = runtime.url, RuntimeCatalog.isLoopback(url) else { return nil }
        return LlamaServerMemory(model: model, url: url)
    }

    /// The largest `VmHWM` of the processes serving the model now, bytes; nil when none is found.
    public func sample() -> Int64? {
        let serving = processes().filter { serves($0.arguments) }
        return serving.compactMap { process in
            Self.read("\(procRoot)/\(process.pid)/status").flatMap { Self.highWaterMark(statusText: String(decoding: $0, as: UTF8.self)) }
        }.max()
    }

    /// Whether a process with `arguments` serves the model: a llama-server child with `--alias` the model, or whose
    /// `--model`/`-m` file is `MODEL.gguf`; else a llama-server with a model file (not a router) on the runtime's port.
    func serves(_ arguments: [String]) -> Bool {
        guard let program = arguments.first, (program as NSString).lastPathComponent.hasPrefix("llama-server") else { return false }
        let alias = Self.value(of: ["--alias", "-a"], in: arguments)
        let file = Self.value(of: ["--model", "-m"], in: arguments)
        if alias == model { return true }
        if alias == nil, let file, ((file as NSString).lastPathComponent as NSString).deletingPathExtension == model { return true }
        // A single-model server: listens on the runtime's port itself and has a model file.
        if let port, file != nil, Self.value(of: ["--port"], in: arguments) == String(port) { return true }
        return false
    }

    /// Every process's pid and arguments (`/proc/PID/cmdline`, NUL-separated).
    func processes() -> [(pid: Int32, arguments: [String])] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: procRoot)) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry), let data = Self.read("\(procRoot)/\(entry)/cmdline"), !data.isEmpty
            else { return nil }
            let arguments = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            return (pid, arguments.last == "" ? Array(arguments.dropLast()) : arguments)
        }
    }

    /// The bytes of the file at `path`, read until its end: /proc files report a size of 0, so readers that trust the
    /// size get nothing.
    static func read(_ path: String) -> Data? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            data.append(buffer, count: count)
        }
        return data
    }

    /// The value after the first of `names` in `arguments` (or after `NAME=`).
    static func value(of names: Set<String>, in arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if names.contains(argument), index + 1 < arguments.count { return arguments[index + 1] }
            if let equals = argument.firstIndex(of: "="), names.contains(String(argument[..<equals])) {
                return String(argument[argument.index(after: equals)...])
            }
        }
        return nil
    }

    /// `VmHWM:\t  123456 kB` of a /proc/PID/status text, in bytes.
    static func highWaterMark(statusText: String?) -> Int64? {
        guard let statusText else { return nil }
        for line in statusText.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.dropFirst("VmHWM:".count).split { $0 == " " || $0 == "\t" }
            guard let number = fields.first.flatMap({ Int64($0) }) else { return nil }
            let unit = fields.count > 1 ? fields[1].lowercased() : "kb"
            return unit == "kb" ? number * 1024 : number
        }
        return nil
    }
}

/// Keeps the largest sample taken while a candidate runs: after each case, and every second in between.
final class PeakMemoryMonitor: Sendable {
    private let sampler: LlamaServerMemory
    private let peak = Locked<Int64?>(nil)
    private let polling = Locked<Task<Void, Never>?>(nil)

    init(sampler: LlamaServerMemory) { self.sampler = sampler }

    /// Takes one sample now.
    func sample() {
        guard let bytes = sampler.sample() else { return }
        peak.withLock { $0 = max($0 ?? 0, bytes) }
    }

    /// Starts sampling every `interval` seconds until ``stop()``.
    func start(interval: Double = 1) {
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                self?.sample()
                try? await Task.sleep(for: .seconds(interval))
            }
        }
        polling.withLock { $0 = task }
    }

    /// Stops sampling, takes a last sample, and returns the peak seen.
    func stop() -> Int64? {
        polling.withLock { task in
            task?.cancel()
            task = nil
        }
        sample()
        return peak.current
    }
}
