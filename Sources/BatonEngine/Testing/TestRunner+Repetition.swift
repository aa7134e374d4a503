import BatonSpec
import Foundation

/// A test file's pipeline compiled for this mode, once for all its cases.
struct PreparedFile: Sendable {
    /// What each repetition runs.
    var snapshot: RunSnapshot
    /// The case results' variant (`echo`, `replay`, the models).
    var variant: String
    /// The variant a recording is kept under and looked up by (the models, in every mode).
    var recordingVariant: String
    /// The test file's real path, standardized with symlinks resolved (the cassettes' `suite`, the same from any folder).
    var suite: String
}

/// One repetition as it is being judged: its result, and the stage outputs a snapshot compares.
struct RepetitionOutcome {
    var result: TestRepetition
    /// The completed stages' outputs (``RunObservation/snapshotEntries``); nil when the run did not happen.
    var outputs: [String: String]?

    /// Adds results before the `run` result and updates the status.
    mutating func add(_ more: [AssertionResult]) {
        let index = result.assertions.lastIndex { $0.name == "run" } ?? result.assertions.endIndex
        result.assertions.insert(contentsOf: more, at: index)
        result.status = Self.status(of: result.assertions)
    }

    /// Failed when any assertion failed, else error when any could not be evaluated, else passed.
    static func status(of results: [AssertionResult]) -> TestStatus {
        if results.contains(where: { $0.status == .failed }) { return .failed }
        if results.contains(where: { $0.status == .error }) { return .error }
        return .passed
    }

    static func error(_ message: String, runID: String? = nil, seconds: Double = 0) -> RepetitionOutcome {
        RepetitionOutcome(
            result: TestRepetition(runID: runID, status: .error, error: message, assertions: [], seconds: seconds), outputs: nil)
    }
}

extension TestRunner {
    /// Compiles the file's pipeline as `baton run` would in this mode (discovery for real models, the echo layer and
    /// runtime for echo), applies the role models, and checks trust; a problem is every case's error.
    func prepare(_ file: LoadedTestFile) async -> Result<PreparedFile, CaseError> {
        var loader = PlanLoader(workspace: workspace)
        loader.trustedForThisRun = options.trusted
        let echo = options.mode == .echo
        let loaded: PlanLoader.Loaded
        do {
            var discover = false
            if case .profile = options.mode { discover = true }
            loaded = try await loader.load(
                file.pipelinePath, profileName: profileName(for: file.suite), discover: discover, database: databasePath, echo: echo)
        } catch let invalid as PipelineInvalid {
            let errors = invalid.diagnostics.filter { $0.severity == .error }.map { diagnostic in
                (diagnostic.location.map { "\($0): " } ?? "") + diagnostic.message
            }
            return .failure(CaseError(message: "the pipeline does not compile with this profile: " + errors.joined(separator: "; ")))
        } catch {
            return .failure(CaseError(message: "\(error)"))
        }
        let roles = Self.usedRoles(options.roleModels, in: loaded.plan)
        if !echo {
            let problems = roles.sorted { $0.key < $1.key }.compactMap {
                RoleOverride.problem(with: $0.value, role: $0.key, profile: loaded.profile, inventory: loaded.inventory)?.message
            }
            guard problems.isEmpty else { return .failure(CaseError(message: problems.joined(separator: "; "))) }
        }
        let plan = RoleOverride.apply(roles, to: loaded.plan, profile: loaded.profile)
        var snapshot = RunSnapshot(
            plan: plan, profile: loaded.profile, sources: loaded.sources.mapValues(\.text), pipelinePath: loaded.path,
            forcedRuntime: echo ? "echo" : nil)
        snapshot.projectFolders = loaded.projectFolders
        if let policy = options.afterRun { snapshot.profile?.spec.afterRun = policy }
        do {
            try TrustCheck(workspace: workspace).check(snapshot, folders: loaded.projectFolders, trusted: options.trusted)
        } catch let refusal as TrustCheck.Refusal {
            return .failure(CaseError(message: refusal.messages.joined(separator: "; ")))
        } catch {
            return .failure(CaseError(message: "\(error)"))
        }
        let models = Self.variant(of: plan, roleModels: roles)
        return .success(
            PreparedFile(
                snapshot: snapshot, variant: variantName(plan), recordingVariant: models,
                suite: Workspace.realPath(workspace.absolute(file.path))))
    }

    /// The roles of `roleModels` that some stage of `plan` has (a bench over several files may name a role only some use).
    static func usedRoles(_ roleModels: [String: String], in plan: ExecutionPlan) -> [String: String] {
        let roles = Set(plan.stages.compactMap(\.role))
        return roleModels.filter { roles.contains($0.key) }
    }

    /// The models a run of `plan` is on: with role models, `role=model` pairs sorted by role; else the distinct first
    /// models of its model stages, sorted, joined by a space (`echo` when none has one).
    static func variant(of plan: ExecutionPlan, roleModels: [String: String]) -> String {
        let used = usedRoles(roleModels, in: plan)
        if !used.isEmpty { return RoleOverride.variant(used) }
        let stages = plan.stages.filter { !$0.isTool && !$0.isToolDefinition && !$0.isRetrieve }
        let models = Set(stages.compactMap { $0.models.first?.name })
        return models.isEmpty ? "echo" : models.sorted().joined(separator: " ")
    }

    /// Runs one repetition of a case and judges it from the store.
    ///
    /// - Throws: ``StoreError`` only; anything else that goes wrong is the repetition's error.
    func run(
        _ testCase: TestCaseSpec, of file: LoadedTestFile, prepared: PreparedFile, repetition: Int, store: RunStore
    ) async throws -> RepetitionOutcome {
        let snapshot = prepared.snapshot
        let inputs: [String: String]
        do {
            inputs = try RunInputs.resolve(snapshot.plan.inputs, given: testCase.inputs)
        } catch {
            return .error("\(error)")
        }
        let base = runtimes(EchoScript(testCase.echo ?? EchoScriptSpec()))
        var provider = base
        var recorder: CassetteRecorder?
        var replay: ReplayProvider?
        var recordingKey = CassetteKey(
            suite: prepared.suite, caseName: testCase.name, variant: prepared.recordingVariant, repetition: repetition)
        switch options.mode {
        case .profile where options.record:
            let made = CassetteRecorder()
            recorder = made
            provider = RecordingProvider(base: base, recorder: made)
        case .replay:
            switch try recording(for: recordingKey, store: store) {
            case .failure(let problem): return .error(problem.message)
            case .success(let (key, records)):
                recordingKey = key
                let made = ReplayProvider(records: records)
                replay = made
                provider = made
            }
        default:
            break
        }
        if let catalog = base as? RuntimeCatalog, replay == nil {
            // As `baton run` does before a run exists: a bad echo option or a key bound to other hosts is refused here.
            do {
                try catalog.prepareEchoRuntimes(for: snapshot)
                try catalog.checkKeyHosts(for: snapshot)
            } catch {
                return .error("\(error)")
            }
        }
        let started = Locked<String?>(nil)
        let payload = Self.eventPayload(file: file.path, case: testCase.name, variant: prepared.variant, repetition: repetition)
        var executor = Executor.forSession(store: store, environment: workspace.environment) { event in
            // The run is labelled as a test case as soon as it exists, so `baton show` says what it was for.
            if case .runStarted(let id, _, _) = event {
                started.withLock { $0 = id }
                try? store.appendEvent(id, kind: .testCase, payload: payload)
            }
        }
        executor.runtimes = provider
        executor.updatesIndexes = options.mode != .replay
        let clock = ContinuousClock.now
        let outcome: RunOutcome
        do {
            outcome = try await executor.start(snapshot, inputs: inputs, claim: LeaseClaim.current())
        } catch let error as StoreError {
            throw error
        } catch {
            return .error("\(error)", runID: started.withLock { $0 }, seconds: Self.seconds(since: clock))
        }
        let seconds = Self.seconds(since: clock)
        // A run that could not be judged still spent what its completed stages spent: read from the store.
        func broken(_ message: String, runID: String) -> RepetitionOutcome {
            var outcome = RepetitionOutcome.error(message, runID: runID, seconds: seconds)
            if let observation = try? RunObservation(runID: runID, store: store, snapshot: snapshot) {
                outcome.result.promptTokens = observation.promptTokens
                outcome.result.outputTokens = observation.outputTokens(stage: nil)
                outcome.result.generationTokensPerSecond = observation.generationTokensPerSecond
                outcome.result.timeToFirstTokenMs = observation.timeToFirstTokenMs
            }
            return outcome
        }
        let runID: String
        var failure: String?
        switch outcome {
        case .completed(let id):
            runID = id
        case .failed(let id, let reason, let unavailable):
            if unavailable { return broken(reason, runID: id) }
            runID = id
            failure = reason
        case .interrupted(let id):
            return broken("the run was interrupted", runID: id)
        case .ambiguousCall(let id, _, let message):
            return broken(message, runID: id)
        }
        if let misses = replay?.misses, let first = misses.first { return .error(first, runID: runID, seconds: seconds) }
        let observation = try RunObservation(runID: runID, store: store, snapshot: snapshot)
        let evaluator = AssertionEvaluator(
            observation: observation, snapshot: snapshot, runtimes: provider, mode: options.mode, file: file.path,
            workspace: workspace)
        var results = await evaluator.evaluate(testCase.assertions)
        results.append(Self.runResult(failure: failure, expectFailure: testCase.expectFailure))
        // Kept after the assertions, so the embeddings `similar` asked for are in the recording too.
        if let recorder { try store.replaceCassettes(recordingKey, with: recorder.recorded, runID: runID) }
        let repetitionResult = TestRepetition(
            runID: runID, status: RepetitionOutcome.status(of: results), assertions: results, seconds: seconds,
            promptTokens: observation.promptTokens, outputTokens: observation.outputTokens(stage: nil),
            generationTokensPerSecond: observation.generationTokensPerSecond, timeToFirstTokenMs: observation.timeToFirstTokenMs)
        return RepetitionOutcome(result: repetitionResult, outputs: observation.snapshotEntries)
    }

    /// The `run` result: failed when the run's outcome is not the case's `expect`.
    static func runResult(failure: String?, expectFailure: Bool) -> AssertionResult {
        switch (failure, expectFailure) {
        case (nil, false):
            AssertionResult(name: "run", stage: nil, status: .passed, message: "the run completed")
        case (let reason?, true):
            AssertionResult(name: "run", stage: nil, status: .passed, message: "the run failed as expected: \(reason)")
        case (let reason?, false):
            AssertionResult(name: "run", stage: nil, status: .failed, message: "the run failed: \(reason)")
        case (nil, true):
            AssertionResult(
                name: "run", stage: nil, status: .failed, message: "the run completed, but the case expects it to fail (expect: failed)")
        }
    }

    /// The recording a replay answers from: the key's variant when it was recorded, else the only variant recorded.
    private func recording(for key: CassetteKey, store: RunStore) throws -> Result<(CassetteKey, [CassetteRecord]), CaseError> {
        let variants = try store.cassetteVariants(suite: key.suite, caseName: key.caseName)
        var chosen = key
        if variants[key.variant] == nil {
            guard variants.count == 1, let only = variants.keys.first else {
                let message =
                    variants.isEmpty
                    ? "case '\(key.caseName)' has no recording; record it with --record and a real profile first"
                    : "case '\(key.caseName)' was recorded on \(variants.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")), not on '\(key.variant)'; give --profile of the recording, or re-record with --record"
                return .failure(CaseError(message: message))
            }
            chosen.variant = only
        }
        let records = try store.cassettes(chosen)
        guard !records.isEmpty else {
            let count = variants[chosen.variant]?.count ?? 0
            return .failure(
                CaseError(
                    message:
                        "case '\(key.caseName)' has no recording of repetition \(key.repetition) (\(count) recorded); replay with --repeat \(max(count, 1)) or re-record with --record"
                ))
        }
        return .success((chosen, records))
    }

    /// The `test-case` event's payload: `{"case", "file", "repetition", "variant"}`.
    static func eventPayload(file: String, case name: String, variant: String, repetition: Int) -> String {
        struct Payload: Encodable {
            var file: String
            var `case`: String
            var variant: String
            var repetition: Int
        }
        return CassetteRequest.json(Payload(file: file, case: name, variant: variant, repetition: repetition))
    }
}
