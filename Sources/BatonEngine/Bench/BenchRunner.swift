import BatonSpec
import Foundation

/// How `baton bench` runs.
public struct BenchOptions: Sendable {
    /// The roles and their candidates, in the order they are benchmarked.
    public var roles: [BenchRole] = []
    /// The profile whose registry and runtimes serve the candidates (nil: the test file's, else the default).
    public var profileName: String? = nil
    /// Repetitions of each case per candidate.
    public var repeatCount = 1
    /// Every stage on the built-in echo runtime (`--runtime echo`): the bench's mechanics without models.
    public var echo = false
    /// Only the cases whose name contains this.
    public var caseFilter: String? = nil
    /// The run database (nil: `$BATON_DB`, else the state folder's).
    public var database: String? = nil
    /// Trust the project folders for this invocation (`--trust`).
    public var trusted = false

    /// No roles yet, real models, one repetition.
    public init() {}
}

/// What a bench measured: one row per role and candidate.
public struct BenchReport: Sendable, Codable, Hashable {
    /// The bench's id in the run store (`bench_results.bench_id`).
    public var benchID: String
    /// The profile the candidates ran with, as requested (`--profile`, the bench or test file's, else `default`).
    public var profile: String?
    /// `echo` or `profile`.
    public var mode: String
    /// Repetitions of each case.
    public var repeatCount: Int
    /// The rows, in role then candidate order.
    public var results: [BenchResult]

    enum CodingKeys: String, CodingKey {
        case benchID = "bench_id"
        case profile, mode
        case repeatCount = "repeat"
        case results
    }
}

/// Progress of a bench, for the console.
public enum BenchEvent: Sendable {
    /// A candidate starts in a role (index from 1 over every role and candidate).
    case candidateStarted(role: String, model: String, index: Int, of: Int)
    /// Progress of that candidate's test cases.
    case test(TestEvent)
    /// The candidate's row is measured.
    case candidateFinished(BenchResult)
}

/// A bench's candidates cannot run; nothing ran. Each failure names the model, the role and the fix.
public struct BenchRefused: Error, Sendable {
    public var failures: [RoleOverride.Failure]
}

/// Runs `baton bench`: for each role and candidate, the TestRunner over the test files with that role's stages on the
/// candidate (``TestOptions/roleModels``), then the candidate's figures read back from the runs in the store.
public struct BenchRunner: Sendable {
    public var workspace: Workspace
    public var options: BenchOptions
    public var observer: @Sendable (BenchEvent) -> Void

    /// A runner over `workspace`.
    public init(workspace: Workspace, options: BenchOptions, observer: @escaping @Sendable (BenchEvent) -> Void = { _ in }) {
        self.workspace = workspace
        self.options = options
        self.observer = observer
    }

    /// The run database's path.
    public var databasePath: String { RunDatabaseLocation.resolve(options.database, environment: workspace.environment) }

    /// The test options of one candidate.
    func testOptions(role: String, candidate: String) -> TestOptions {
        var test = TestOptions()
        test.mode = options.echo ? .echo : .profile(options.profileName)
        test.profileName = options.profileName
        test.repeatCount = options.echo ? 1 : max(1, options.repeatCount)
        test.roleModels = [role: candidate]
        test.caseFilter = options.caseFilter
        test.database = databasePath
        test.trusted = options.trusted
        // A candidate's repetitions reuse the model the one before loaded, and the peak memory sampler reads the model's
        // server after each case: the bench leaves models loaded (docs/profiles.md, after_run).
        test.afterRun = .keep
        return test
    }

    /// Finds and validates the test files (``TestRunner/load(_:)``).
    public func load(_ paths: [String]) throws -> [LoadedTestFile] {
        try TestRunner(workspace: workspace, options: testOptions(role: "", candidate: "")).load(paths)
    }

    /// Every reason the bench cannot run, found before anything runs: a role no stage of the files' pipelines has, a
    /// candidate the profile cannot place or its runtime does not have. Also returns the profile the pipelines compile
    /// with and its name as requested. A pipeline that does not compile is left to the cases (their repetitions are errors).
    public func check(_ files: [LoadedTestFile]) async -> (
        failures: [RoleOverride.Failure], profile: ResolvedProfile?, profileName: String?
    ) {
        var loader = PlanLoader(workspace: workspace)
        loader.trustedForThisRun = options.trusted
        var plans: [ExecutionPlan] = []
        var profile: ResolvedProfile?
        var inventory: ModelInventory?
        var profileName: String?
        for file in files where file.isValid {
            // As the TestRunner chooses: echo runs take `--profile` or the default, real models also the file's `profile:`.
            let requested = options.echo ? options.profileName : options.profileName ?? file.suite.profile
            guard
                let loaded = try? await loader.load(
                    file.pipelinePath, profileName: requested, discover: !options.echo, database: databasePath, echo: options.echo)
            else { continue }
            plans.append(loaded.plan)
            if profile == nil {
                profile = loaded.profile
                inventory = loaded.inventory
                profileName = workspace.profileName(requested: requested)
            }
        }
        let roles = options.roles.map { (role: $0.name, candidates: $0.candidates) }
        if plans.isEmpty {
            return (
                [RoleOverride.Failure("no test file's pipeline compiles with this profile; 'baton test' on them says why")], profile,
                profileName
            )
        }
        return (RoleOverride.check(roles, plans: plans, profile: profile, inventory: inventory, echo: options.echo), profile, profileName)
    }

    /// Runs every role × candidate over `files`, measures each, and keeps the rows in the run store.
    ///
    /// - Throws: ``BenchRefused`` when a candidate cannot run (nothing ran); ``StoreError`` when the run database fails.
    public func run(_ files: [LoadedTestFile]) async throws -> BenchReport {
        let (failures, profile, profileName) = await check(files)
        guard failures.isEmpty else { throw BenchRefused(failures: failures) }
        let store = try RunStore.forSession(path: databasePath, environment: workspace.environment)
        let total = options.roles.reduce(0) { $0 + $1.candidates.count }
        var results: [BenchResult] = []
        var index = 0
        for role in options.roles {
            for candidate in role.candidates {
                if Task.isCancelled { break }
                index += 1
                observer(.candidateStarted(role: role.name, model: candidate, index: index, of: total))
                let result = try await measure(candidate, role: role.name, files: files, profile: profile, store: store)
                results.append(result)
                observer(.candidateFinished(result))
            }
        }
        let benchID = Self.newBenchID()
        try store.saveBenchResults(results, benchID: benchID)
        return BenchReport(
            benchID: benchID, profile: profileName, mode: options.echo ? "echo" : "profile",
            repeatCount: options.echo ? 1 : max(1, options.repeatCount), results: results)
    }

    /// Runs the cases with `role` on `candidate` and measures them.
    func measure(
        _ candidate: String, role: String, files: [LoadedTestFile], profile: ResolvedProfile?, store: RunStore
    ) async throws -> BenchResult {
        let resolved = RoleOverride.resolve(candidate, profile: profile)
        let runtimeName = options.echo ? "echo" : resolved.runtime
        let runtime = options.echo ? nil : resolved.runtime.flatMap { profile?.spec.runtime(named: $0) }
        let monitor = LlamaServerMemory.forRuntime(runtime, model: resolved.name).map(PeakMemoryMonitor.init)
        monitor?.start()
        var runner = TestRunner(workspace: workspace, options: testOptions(role: role, candidate: candidate)) { [observer] event in
            if case .caseFinished = event { monitor?.sample() }
            observer(.test(event))
        }
        runner.store = store
        let report: TestReport
        do {
            report = try await runner.run(files)
        } catch {
            _ = monitor?.stop()
            throw error
        }
        var result = try Self.result(of: report, role: role, model: candidate, runtime: runtimeName, store: store)
        if let monitor {
            result.peakRSSBytes = monitor.stop()
            result.memorySource = result.peakRSSBytes == nil ? nil : .vmHWM
        } else if runtime?.kind == .ollama, let runtimeName,
            let bytes = try store.measuredFootprints()[ModelKey(runtime: runtimeName, name: resolved.name)]
        {
            result.peakRSSBytes = bytes
            result.memorySource = .footprint
        }
        return result
    }

    /// The row of `model` in `role` from its test report and the runs it made: pass figures from the report, the rest
    /// from the role's attempts and load events in the store (the stages of that role in each run's pinned plan).
    public static func result(of report: TestReport, role: String, model: String, runtime: String?, store: RunStore) throws -> BenchResult {
        var result = BenchResult(role: role, model: model, runtime: runtime)
        let cases = report.cases.filter { $0.status != .skipped }
        result.cases = cases.count
        result.passed = cases.count { $0.status == .passed }
        let repetitions = cases.flatMap(\.repetitions)
        result.repetitions = repetitions.count
        result.passedRepetitions = repetitions.count { $0.status == .passed }
        result.errors = repetitions.count { $0.status == .error }
        result.passRate = repetitions.isEmpty ? nil : Double(result.passedRepetitions) / Double(repetitions.count)
        let scores = repetitions.flatMap(\.assertions).filter { $0.name == "judge" }.compactMap(\.score)
        result.judgeScore = scores.isEmpty ? nil : scores.reduce(0, +) / Double(scores.count)
        result.runIDs = repetitions.compactMap(\.runID)
        var attempts: [AttemptRecord] = []
        var loads: [EventRecord] = []
        var stages: Set<String> = []
        for runID in result.runIDs {
            let run = try store.run(runID)
            guard let snapshot = try? RunSnapshot.decode(run.snapshot) else { continue }
            let roleStages = Set(snapshot.plan.stages.filter { $0.role == role }.map(\.name))
            stages.formUnion(roleStages)
            attempts += try store.attemptsWithoutPrompts(runID, outputsOf: []).filter { roleStages.contains($0.stage) }
            loads += try store.events(runID, kind: .modelLoaded).filter { $0.stage.map(roleStages.contains) == true }
        }
        let figures = BenchMetrics.figures(attempts: attempts, loadEvents: loads, roleStages: stages)
        result.ttftMs = figures.ttftMs
        result.promptTokensPerSecond = figures.promptTokensPerSecond
        result.generationTokensPerSecond = figures.generationTokensPerSecond
        result.speedSource = figures.speedSource
        result.loadMs = figures.loadMs
        result.loads = figures.loads
        result.promptTokens = figures.promptTokens
        result.outputTokens = figures.outputTokens
        var problems: [String] = []
        for repetition in repetitions where repetition.status == .error {
            let message = repetition.error ?? repetition.assertions.first { $0.status == .error }?.message ?? "error"
            if !problems.contains(message) { problems.append(message) }
        }
        result.problems = Array(problems.prefix(3))
        return result
    }

    /// A new bench id: the UTC time and four random hex digits, like a run id.
    static func newBenchID() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "bench-" + formatter.string(from: Date()) + "-" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
    }
}
