import BatonEngine
import BatonSpec
import Foundation

/// A project folder for TestRunner tests: `pipelines/task.yaml` (a critic loop, a JSON stage, a conditional stage), a
/// profile `t` whose models are on the echo runtime (and `real`, on a llama-server nobody listens to), its own run
/// database and configuration folder; removed when the value goes away.
final class TestRunnerSandbox: @unchecked Sendable {
    let root = NSTemporaryDirectory() + "baton-testrunner-\(UUID().uuidString.prefix(8))"

    static let pipeline = """
        version: 1
        name: task
        inputs:
          task: {}
          urgent: {default: "no"}
        outputs: [implement]
        stages:
          plan:
            role: planner
            prompt: "Plan {{inputs.task}}"
          review:
            role: critic
            reviews: plan
            max_rounds: 3
            on_exhausted: fail
            prompt: "Review {{stages.plan.output}}"
          facts:
            role: planner
            needs: [review]
            output: {format: json}
            prompt: "Facts about {{inputs.task}}"
          escalate:
            role: executor
            needs: [review]
            when: inputs.urgent == "yes"
            prompt: "Escalate {{inputs.task}}"
          implement:
            role: executor
            needs: [facts]
            prompt: "Implement {{inputs.task}} following {{stages.plan.output}}"

        """

    static let profile = """
        version: 1
        name: t
        default_runtime: echo
        runtimes:
          echo: {kind: echo}
          stand: {kind: llama-server, url: "http://127.0.0.1:9"}
        models:
          small: {runtime: echo, footprint: 0}
          all-minilm: {runtime: echo}
          real: {runtime: stand, footprint: 0}
        roles:
          planner: {models: [small]}
          critic: {models: [small]}
          executor: {models: [small]}
        defaults:
          retry: {max_attempts: 1}

        """

    /// The same profile with every role on `real` (the llama-server runtime).
    static let realProfile = profile.replacingOccurrences(of: "models: [small]", with: "models: [real]")
        .replacingOccurrences(of: "name: t\n", with: "name: real\n")

    init() throws {
        try write("pipelines/task.yaml", Self.pipeline)
        try write("profiles/t.yaml", Self.profile)
        try write("profiles/real.yaml", Self.realProfile)
        try FileManager.default.createDirectory(atPath: root + "/config", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Writes `text` to `relative`, creating folders.
    func write(_ relative: String, _ text: String) throws {
        let full = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func read(_ relative: String) throws -> String {
        try String(contentsOfFile: root + "/" + relative, encoding: .utf8)
    }

    var database: String { root + "/baton.sqlite" }

    var workspace: Workspace {
        Workspace(
            pipelineDirectories: [root + "/pipelines"], profileDirectories: [root + "/profiles"],
            environment: ["XDG_CONFIG_HOME": root + "/config", "HOME": root, "BATON_DISCOVERY": "off"], currentDirectory: root,
            configDirectory: root + "/config/baton")
    }

    /// A runner in `mode` over this folder's database and profile `t` (echo) or `real`.
    func runner(_ mode: TestOptions.Mode = .echo, configure: (inout TestOptions) -> Void = { _ in }) -> TestRunner {
        var options = TestOptions()
        options.mode = mode
        options.profileName = "t"
        options.database = database
        configure(&options)
        return TestRunner(workspace: workspace, options: options)
    }

    /// Loads and runs `files` (default: every test file of the folder).
    func run(_ runner: TestRunner, _ paths: [String] = []) async throws -> TestReport {
        let files = try runner.load(paths)
        for file in files where !file.isValid {
            throw SandboxError(
                message: file.diagnostics.map { "\($0.location.map(\.description) ?? ""): \($0.message)" }.joined(separator: "\n"))
        }
        return try await runner.run(files)
    }

    struct SandboxError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

extension TestReport {
    /// The case named `name`.
    func `case`(_ name: String) -> TestCaseResult? { cases.first { $0.name == name } }
}

extension TestCaseResult {
    /// The first repetition's results named `name` (and of `stage`, when given).
    func results(_ name: String, stage: String? = nil) -> [AssertionResult] {
        (repetitions.first?.assertions ?? []).filter { $0.name == name && (stage == nil || $0.stage == stage) }
    }
}
