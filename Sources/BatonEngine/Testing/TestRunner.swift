import BatonSpec
import Foundation

/// Runs the cases of pipeline test files (`baton test`, `baton bench`): each repetition is a normal run in the run
/// store (`baton show ID` works on it), judged by the case's assertions read back from the store.
///
/// This file holds the walk over files, cases and repetitions; TestRunner+Loading finds and validates test files,
/// TestRunner+Repetition runs one repetition, AssertionEvaluator judges it, Snapshots, Cassettes and ReplayRuntime keep
/// golden outputs and recorded answers.
public struct TestRunner: Sendable {
    /// Where pipelines, profiles and test files are found.
    public var workspace: Workspace
    /// How cases run.
    public var options: TestOptions
    /// Receives progress.
    public var observer: @Sendable (TestEvent) -> Void
    /// Makes the runtimes of one repetition, given the case's echo script (every echo runtime answers from it); the
    /// default is a ``RuntimeCatalog`` as `baton run` makes one. Tests put stand-ins here.
    public var runtimes: @Sendable (EchoScript) -> any RuntimeProvider
    /// The run store; nil opens ``TestOptions/database`` (or the workspace default) when ``run(_:)`` starts.
    public var store: RunStore?

    /// A runner over `workspace`.
    public init(workspace: Workspace, options: TestOptions, observer: @escaping @Sendable (TestEvent) -> Void = { _ in }) {
        self.workspace = workspace
        self.options = options
        self.observer = observer
        let environment = workspace.environment
        runtimes = { script in
            RuntimeCatalog(environment: environment, keys: KeyFileSource(environment: environment), echoScript: script)
        }
    }

    /// Repetitions per case: echo runs are deterministic, so once.
    var repetitionCount: Int { options.mode == .echo ? 1 : max(1, options.repeatCount) }

    /// Runs every case of the valid files (invalid ones are left out: the command refuses them first).
    ///
    /// - Throws: ``StoreError`` when the run database cannot be opened or written; every other problem is a case's
    ///   `error`.
    public func run(_ files: [LoadedTestFile]) async throws -> TestReport {
        let started = ContinuousClock.now
        let store = try self.store ?? RunStore.forSession(path: databasePath, environment: workspace.environment)
        var results: [TestCaseResult] = []
        for file in files where file.isValid {
            let cases = file.suite.cases.filter { options.caseFilter.map($0.name.contains) ?? true }
            guard !cases.isEmpty else { continue }
            let prepared = await prepare(file)
            var snapshots: SnapshotFile?
            var snapshotProblem: String?
            do {
                snapshots = try SnapshotFile.read(SnapshotFile.path(forTestFile: workspace.absolute(file.path)))
            } catch {
                snapshotProblem = "\(error)"
            }
            for testCase in cases {
                if Task.isCancelled { break }
                let result = try await run(
                    testCase, of: file, prepared: prepared, store: store, snapshots: &snapshots, snapshotProblem: snapshotProblem)
                results.append(result)
                observer(.caseFinished(result))
            }
        }
        return TestReport(cases: results, seconds: Self.seconds(since: started))
    }

    /// The run database's path: ``TestOptions/database``, else `$BATON_DB`, else the state folder's.
    var databasePath: String { RunDatabaseLocation.resolve(options.database, environment: workspace.environment) }

    private func run(
        _ testCase: TestCaseSpec, of file: LoadedTestFile, prepared: Result<PreparedFile, CaseError>, store: RunStore,
        snapshots: inout SnapshotFile?, snapshotProblem: String?
    ) async throws -> TestCaseResult {
        let pipeline =
            (try? prepared.get().snapshot.plan.pipeline)
            ?? ((file.pipelinePath as NSString).lastPathComponent as NSString).deletingPathExtension
        let variant = (try? prepared.get().variant) ?? variantName(nil, suite: file.suite)
        if let reason = testCase.skip {
            return TestCaseResult(
                file: file.path, pipeline: pipeline, name: testCase.name, variant: variant, status: .skipped, passRate: 0,
                repetitions: [], skipReason: reason)
        }
        var repetitions: [TestRepetition] = []
        for number in 1...repetitionCount {
            if Task.isCancelled { break }
            observer(.caseStarted(file: file.path, name: testCase.name, repetition: number, of: repetitionCount))
            switch prepared {
            case .failure(let problem):
                repetitions.append(TestRepetition(runID: nil, status: .error, error: problem.message, assertions: [], seconds: 0))
            case .success(let ready):
                var repetition = try await run(testCase, of: file, prepared: ready, repetition: number, store: store)
                if options.mode == .echo, let outputs = repetition.outputs {
                    if options.updateSnapshots {
                        var updated = snapshots ?? SnapshotFile()
                        updated.cases[testCase.name] = outputs
                        // Cases no longer in the file lose their snapshots.
                        let names = Set(file.suite.cases.map(\.name))
                        updated.cases = updated.cases.filter { names.contains($0.key) }
                        snapshots = updated
                        do {
                            try updated.write(to: SnapshotFile.path(forTestFile: workspace.absolute(file.path)))
                        } catch {
                            let message =
                                "the snapshots could not be written: \(error.localizedDescription); check that the folder is writable"
                            repetition.add([AssertionResult(name: "snapshot", stage: nil, status: .error, message: message)])
                        }
                    } else if let snapshotProblem {
                        repetition.add([AssertionResult(name: "snapshot", stage: nil, status: .error, message: snapshotProblem)])
                    } else if let expected = snapshots?.cases[testCase.name] {
                        let display = workspace.display(SnapshotFile.path(forTestFile: workspace.absolute(file.path)))
                        repetition.add(SnapshotFile.compare(expected: expected, actual: outputs, file: display))
                    }
                }
                repetitions.append(repetition.result)
            }
        }
        return Self.summary(
            file: file.path, pipeline: pipeline, name: testCase.name, variant: variant, repetitions: repetitions,
            minPassRate: options.minPassRate)
    }

    /// A case's result over its repetitions: passed iff passes / repetitions >= `minPassRate`, error when every
    /// repetition errored.
    static func summary(
        file: String, pipeline: String, name: String, variant: String, repetitions: [TestRepetition], minPassRate: Double
    ) -> TestCaseResult {
        let passes = repetitions.count { $0.status == .passed }
        let rate = repetitions.isEmpty ? 0 : Double(passes) / Double(repetitions.count)
        let status: TestStatus
        if !repetitions.isEmpty, repetitions.allSatisfy({ $0.status == .error }) {
            status = .error
        } else if !repetitions.isEmpty, rate >= minPassRate - 1e-9 {
            status = .passed
        } else {
            status = .failed
        }
        var result = TestCaseResult(
            file: file, pipeline: pipeline, name: name, variant: variant, status: status, passRate: rate, repetitions: repetitions)
        // A case that passed without checking anything (every assertion but the run's outcome skipped in every run:
        // only `judge`s, on the echo runtime) is skipped: reporting it passed would claim what was not checked.
        let checked = repetitions.map { $0.assertions.filter { $0.name != "run" } }
        if status == .passed, !checked.isEmpty, checked.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.status == .skipped } }) {
            result.status = .skipped
            result.skipReason = checked.first?.first.map { assertion in
                "\(assertion.name)\(assertion.stage.map { " [\($0)]" } ?? ""): \(assertion.message)"
            }
        }
        return result
    }

    /// The variant a case runs on in this mode: `echo`, `replay`, or the plan's models (the profile's name when the
    /// pipeline could not be compiled with it).
    func variantName(_ plan: ExecutionPlan?, suite: TestSuiteSpec? = nil) -> String {
        switch options.mode {
        case .echo: "echo"
        case .replay: "replay"
        case .profile(let name):
            plan.map { Self.variant(of: $0, roleModels: options.roleModels) } ?? name ?? suite?.profile ?? BuiltInProfiles.defaultName
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// A problem that makes every repetition of a case an error (the pipeline does not compile with the profile, the
/// project is not trusted, no recording).
struct CaseError: Error, Sendable {
    var message: String
}
