import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Thermal pauses: the Linux sensor on a fake sysfs tree, the gate with a scripted sensor and a fake
/// sleep, the `thermal` profile section, and the executor pausing between stages.
@Suite struct ThermalTests {
    /// A zone with one trip point of each kind that counts, plus a fan trip below all of them.
    static let laptopTrips = FakeThermalTree.laptopTrips

    // MARK: - Linux sensor

    @Test(arguments: [
        (30000, ThermalState.nominal), (50000, .nominal), (70000, .fair), (84999, .fair), (85000, .serious),
        (99999, .serious), (100000, .critical), (120000, .critical),
    ])
    func eachTripTypeMapsToItsState(temperature: Int, expected: ThermalState) throws {
        let tree = try FakeThermalTree()
        defer { tree.remove() }
        try tree.zone(0, temp: temperature, trips: Self.laptopTrips)

        #expect(LinuxThermalSensor(root: tree.root).currentState() == expected)
    }

    @Test func theHottestZoneDecides() throws {
        let tree = try FakeThermalTree()
        defer { tree.remove() }
        try tree.zone(0, temp: 40000, trips: Self.laptopTrips)
        try tree.zone(1, temp: 72000, trips: [("passive", 70000), ("critical", 105000)])
        try tree.zone(2, temp: 60000, trips: Self.laptopTrips)
        let sensor = LinuxThermalSensor(root: tree.root)
        #expect(sensor.currentState() == .fair)

        // A zone heating up is seen on the next reading; another zone past its 'hot' trip wins.
        try tree.zone(2, temp: 90000, trips: Self.laptopTrips)
        #expect(sensor.currentState() == .serious)
        try tree.zone(0, temp: 101000, trips: Self.laptopTrips)
        #expect(sensor.currentState() == .critical)
    }

    @Test func zonesThatCannotBeJudgedAreSkipped() throws {
        let tree = try FakeThermalTree()
        defer { tree.remove() }
        // No temperature, no trip points, only a fan trip, a trip at 0 (firmware placeholder): all unknown.
        try tree.zone(0, temp: nil, trips: Self.laptopTrips)
        try tree.zone(1, temp: 150000, trips: [])
        try tree.zone(2, temp: 150000, trips: [("active", 40000)])
        try tree.zone(3, temp: 150000, trips: [("critical", 0)])
        let sensor = LinuxThermalSensor(root: tree.root)
        #expect(sensor.currentState() == nil)

        // One judged zone is enough; garbage in another zone's temp does not count.
        try tree.zone(4, temp: 20000, trips: Self.laptopTrips)
        try "n/a\n".write(toFile: "\(tree.root)/thermal_zone3/temp", atomically: true, encoding: .utf8)
        #expect(LinuxThermalSensor(root: tree.root).currentState() == .nominal)  // a new sensor lists the zones again
    }

    @Test func tripPointsAndZonesAreReusedForTheirLifetimeAndTemperaturesNever() throws {
        let tree = try FakeThermalTree()
        defer { tree.remove() }
        try tree.zone(0, temp: 80000, trips: Self.laptopTrips)
        let cached = LinuxThermalSensor(root: tree.root)
        let fresh = LinuxThermalSensor(root: tree.root, tripPointLifetime: .zero)
        #expect(cached.currentState() == .fair)
        #expect(fresh.currentState() == .fair)

        // The firmware lowers the 'hot' trip below the temperature.
        try tree.zone(0, temp: 80000, trips: [("passive", 70000), ("hot", 75000), ("critical", 100000)])
        #expect(cached.currentState() == .fair)  // trip points from the first reading
        #expect(fresh.currentState() == .serious)

        // A temperature change is seen at once either way.
        try tree.zone(0, temp: 101000, trips: [("passive", 70000), ("hot", 75000), ("critical", 100000)])
        #expect(cached.currentState() == .critical)
        #expect(fresh.currentState() == .critical)

        // A zone that appears is seen once the list of zones is read again.
        try tree.zone(0, temp: 20000, trips: Self.laptopTrips)
        try tree.zone(1, temp: 101000, trips: Self.laptopTrips)
        #expect(cached.currentState() == .nominal)  // zone 0 only, with its first trip points
        #expect(fresh.currentState() == .critical)
    }

    @Test func noTreeOrNoZonesIsUnknown() throws {
        let tree = try FakeThermalTree()
        defer { tree.remove() }
        try FileManager.default.createDirectory(atPath: "\(tree.root)/cooling_device0", withIntermediateDirectories: true)
        #expect(LinuxThermalSensor(root: tree.root).currentState() == nil)
        #expect(LinuxThermalSensor(root: tree.root + "/missing").currentState() == nil)
    }

    @Test func theEnvironmentPointsThePlatformSensorAtAFakeTree() throws {
        let tree = try FakeThermalTree()
        defer { tree.remove() }
        try tree.zone(0, temp: 86000, trips: Self.laptopTrips)
        let sensor = ThermalSensors.platform(environment: ["BATON_THERMAL_PATH": tree.root])
        #expect((sensor as? LinuxThermalSensor)?.root == tree.root)
        #expect(sensor.currentState() == .serious)
    }

    // MARK: - Gate

    static func policy(pauseAt: ThermalPolicy.Level = .serious, maxWait: Double = 600, poll: Double = 15) -> ThermalPolicy {
        ThermalPolicy(enabled: true, pauseAt: pauseAt, maxWait: maxWait, pollInterval: poll)
    }

    @Test func aCoolMachineDoesNotPause() async throws {
        let sensor = ScriptedThermalSensor([.fair])
        let delays = DelayLog()
        var paused: [ThermalState] = []
        let outcome = try await ThermalGate(policy: Self.policy(), sensor: sensor, sleep: { delays.append($0) }).wait {
            paused.append($0)
        }
        #expect(outcome == .clear(.fair))
        #expect(paused.isEmpty)
        #expect(delays.values.isEmpty)
        #expect(sensor.readings == 1)
    }

    @Test func pausesWhileHotAndResumesWhenItCools() async throws {
        let sensor = ScriptedThermalSensor([.serious, .critical, .serious, .fair])
        let delays = DelayLog()
        var paused: [ThermalState] = []
        let outcome = try await ThermalGate(policy: Self.policy(), sensor: sensor, sleep: { delays.append($0) }).wait {
            paused.append($0)
        }
        #expect(outcome == .resumed(from: .serious, to: .fair, waited: 45))
        #expect(paused == [.serious])
        #expect(delays.values == [15, 15, 15])
        #expect(sensor.readings == 4)
    }

    @Test func givesUpAfterTheMaximumWait() async throws {
        let sensor = ScriptedThermalSensor([.critical])
        let delays = DelayLog()
        let outcome = try await ThermalGate(policy: Self.policy(maxWait: 40), sensor: sensor, sleep: { delays.append($0) }).wait()
        #expect(outcome == .gaveUp(state: .critical, waited: 40))
        #expect(delays.values == [15, 15, 10])  // the last sleep is cut to end at max_wait
    }

    @Test func theThresholdAndTheSwitchAreRespected() async throws {
        let critical = ThermalGate(policy: Self.policy(pauseAt: .critical), sensor: ScriptedThermalSensor([.serious]), sleep: { _ in })
        #expect(try await critical.wait() == .clear(.serious))
        let fair = ThermalGate(policy: Self.policy(pauseAt: .fair), sensor: ScriptedThermalSensor([.fair, .nominal]), sleep: { _ in })
        #expect(try await fair.wait() == .resumed(from: .fair, to: .nominal, waited: 15))

        var off = Self.policy()
        off.enabled = false
        let sensor = ScriptedThermalSensor([.critical])
        #expect(try await ThermalGate(policy: off, sensor: sensor, sleep: { _ in }).wait() == .clear(nil))
        #expect(sensor.readings == 0)
    }

    @Test func anUnknownStateNeverPausesAndEndsAPause() async throws {
        #expect(try await ThermalGate(policy: Self.policy(), sensor: ScriptedThermalSensor([nil]), sleep: { _ in }).wait() == .clear(nil))
        let sensor = ScriptedThermalSensor([.critical, nil])
        #expect(
            try await ThermalGate(policy: Self.policy(), sensor: sensor, sleep: { _ in }).wait()
                == .resumed(from: .critical, to: nil, waited: 15))
    }

    @Test func cancellationInterruptsTheWait() async throws {
        // A real sleep of an hour per poll: only cancellation can end this wait.
        let gate = ThermalGate(policy: Self.policy(maxWait: 36000, poll: 3600), sensor: ScriptedThermalSensor([.critical]))
        let task = Task { try await gate.wait() }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }

        // A sleep that returns normally although the task was cancelled while it slept: the gate checks
        // after each sleep.
        let fake = ThermalGate(
            policy: Self.policy(), sensor: ScriptedThermalSensor([.critical]),
            sleep: { _ in withUnsafeCurrentTask { $0?.cancel() } })
        await #expect(throws: CancellationError.self) { try await Task { try await fake.wait() }.value }
    }

    // MARK: - Profile section

    static func profile(_ thermal: String, extends parent: String? = nil) -> ProfileDocument {
        let text = "version: 1\nname: p\n\(parent.map { "extends: \($0)\n" } ?? "")\(thermal)"
        return ProfileDecoder.decode(SourceFile(path: "p.yaml", text: text), environment: ["WAIT": "90s"])
    }

    @Test func theThermalSectionDecodesWithDefaults() {
        let full = Self.profile("thermal:\n  pause_at: critical\n  max_wait: ${WAIT}\n  poll_interval: 500ms\n  enabled: true\n")
        #expect(full.diagnostics.isEmpty)
        #expect(full.spec?.thermal == ThermalPolicy(enabled: true, pauseAt: .critical, maxWait: 90, pollInterval: 0.5))
        let empty = Self.profile("thermal: {}\n")
        #expect(empty.spec?.thermal == .default)
        #expect(Self.profile("description: none\n").spec?.thermal == nil)
    }

    @Test func badThermalValuesAreReportedAtTheirPlace() {
        let document = Self.profile(
            """
            thermal:
              pause_at: nominal
              max_wait: forever
              poll_intervall: 10s
              enabled: off

            """)
        #expect(
            document.diagnostics.map { "\($0.location!.line):\($0.location!.column): \($0.message)" } == [
                "6:3: unknown key 'poll_intervall' in 'thermal'; did you mean 'poll_interval'?",
                "7:12: expected true or false for 'enabled' in 'thermal', found 'off'",
                "4:13: 'nominal' is not valid for 'pause_at' in 'thermal'; use 'fair', 'serious' or 'critical'",
                "5:13: 'forever' is not a duration for 'max_wait' in 'thermal'; write seconds, or a number with ms, s, m or h",
            ])
        let order = Self.profile("thermal: {max_wait: 5s}\n")
        #expect(
            order.diagnostics.map(\.message) == [
                "'5s' is out of range for 'max_wait' in 'thermal'; use a duration no shorter than 'poll_interval' (15s when left out)"
            ])
        #expect(Self.profile("thermal: serious\n").diagnostics.map(\.message) == ["expected a mapping for 'thermal', found 'serious'"])
    }

    @Test func aChildsThermalReplacesItsParentsWhole() {
        let parent = Self.profile("thermal: {pause_at: fair, max_wait: 1h}\n")
        func resolve(_ child: ProfileDocument) -> ThermalPolicy? {
            ProfileResolver.resolve(child) { $0 == "base" ? parent : nil }.profile?.spec.thermal
        }
        #expect(resolve(Self.profile("", extends: "base")) == ThermalPolicy(enabled: true, pauseAt: .fair, maxWait: 3600, pollInterval: 15))
        #expect(
            resolve(Self.profile("thermal: {enabled: false}\n", extends: "base"))
                == ThermalPolicy(enabled: false, pauseAt: .serious, maxWait: 600, pollInterval: 15))
    }

    // MARK: - Executor

    static let chain = """
        version: 1
        stages:
          plan:
            model: m
            prompt: Plan
          build:
            model: m
            prompt: "Build from: {{stages.plan.output}}"
        """

    /// The chain pipeline with a profile whose thermal policy is `thermal`.
    static func hotSnapshot(_ thermal: String = "{pause_at: serious, max_wait: 10m, poll_interval: 15s}") throws -> RunSnapshot {
        var snapshot = try snapshot(Self.chain)
        let document = ProfileDecoder.decode(SourceFile(path: "hot.yaml", text: "version: 1\nthermal: \(thermal)\n"), environment: [:])
        snapshot.profile = try #require(ProfileResolver.resolve(document) { _ in nil }.profile)
        return snapshot
    }

    static func executor(
        _ runtime: ScriptedRuntime, store: RunStore, sensor: ScriptedThermalSensor, delays: DelayLog, events: EventLog
    ) -> Executor {
        var executor = Executor(
            store: store, runtimes: runtime, observer: { events.append($0) }, sleep: { delays.append($0) }, random: { 0.5 })
        executor.thermal = sensor
        return executor
    }

    @Test func theRunPausesBeforeAStageWhileHotAndRecordsIt() async throws {
        // Given a machine that is cool before 'plan', hot before 'build', and cools after two more readings
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in .text("\(request.stage) done") }
        let sensor = ScriptedThermalSensor([.nominal, .serious, .critical, .fair])
        let delays = DelayLog()
        let events = EventLog()

        // When
        let outcome = try await Self.executor(runtime, store: store, sensor: sensor, delays: delays, events: events)
            .start(try Self.hotSnapshot(), inputs: [:], claim: .current())

        // Then the run completed after waiting two polls before 'build'
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.requests.map(\.stage) == ["plan", "build"])
        #expect(delays.values == [15, 15])
        #expect(sensor.readings == 4)
        let recorded = try store.events(id).filter { $0.kind.rawValue.hasPrefix("thermal-") || $0.kind.rawValue.hasPrefix("attempt-") }
        #expect(
            recorded.map { "\($0.kind) \($0.stage ?? "")" } == [
                "attempt-started plan", "attempt-completed plan", "thermal-pause build", "thermal-resume build",
                "attempt-started build", "attempt-completed build",
            ])
        let pause = try #require(recorded.first { $0.kind == .thermalPause }?.payload)
        #expect(pause == #"{"max_wait":600,"pause_at":"serious","round":1,"state":"serious"}"#)
        let resume = try #require(recorded.first { $0.kind == .thermalResume }?.payload)
        #expect(resume == #"{"round":1,"state":"fair","waited":30}"#)
        #expect(events.thermal == ["paused build serious 600", "resumed build fair 30"])
    }

    @Test func aMachineThatStaysHotRunsTheStageAfterTheMaximumWait() async throws {
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in .text("\(request.stage) done") }
        let sensor = ScriptedThermalSensor([.critical])
        let delays = DelayLog()
        let events = EventLog()
        let outcome = try await Self.executor(runtime, store: store, sensor: sensor, delays: delays, events: events)
            .start(try Self.hotSnapshot("{pause_at: critical, max_wait: 20s, poll_interval: 15s}"), inputs: [:], claim: .current())

        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(delays.values == [15, 5, 15, 5])  // one pause per stage, each cut at max_wait
        let kinds = try store.events(id).filter { $0.kind.rawValue.hasPrefix("thermal-") }.map { "\($0.kind) \($0.stage ?? "")" }
        #expect(kinds == ["thermal-pause plan", "thermal-wait-exceeded plan", "thermal-pause build", "thermal-wait-exceeded build"])
        #expect(events.thermal.last == "exceeded build critical 20")
    }

    @Test func withoutAPolicyOrASensorNothingIsRead() async throws {
        let runtime = ScriptedRuntime { request, _ in .text("\(request.stage) done") }
        let sensor = ScriptedThermalSensor([.critical])
        let delays = DelayLog()
        // A sensor but no policy in the profile (no profile at all).
        let store = try RunStore.inMemory()
        _ = try await Self.executor(runtime, store: store, sensor: sensor, delays: delays, events: EventLog())
            .start(try snapshot(Self.chain), inputs: [:], claim: .current())
        // A policy that is switched off.
        _ = try await Self.executor(runtime, store: store, sensor: sensor, delays: delays, events: EventLog())
            .start(try Self.hotSnapshot("{enabled: false}"), inputs: [:], claim: .current())
        #expect(sensor.readings == 0)
        #expect(delays.values.isEmpty)
        #expect(runtime.requests.count == 4)
    }

    @Test func aResumedRunDoesNotPauseBeforeReusedStages() async throws {
        // Given a run that failed at 'build' on a cool machine
        let store = try RunStore.inMemory()
        let broken = ScriptedRuntime { request, _ in
            request.stage == "build" ? .error(RuntimeError(.badResponse, "garbled", isTransient: false)) : .text("plan done")
        }
        let cool = ScriptedThermalSensor([.nominal])
        let first = try await Self.executor(broken, store: store, sensor: cool, delays: DelayLog(), events: EventLog())
            .start(try Self.hotSnapshot(), inputs: [:], claim: .current())
        guard case .failed(let id, _, _) = first else {
            Issue.record("\(first)")
            return
        }
        #expect(cool.readings == 2)

        // When it resumes on a hot machine that cools after one poll
        let fixed = ScriptedRuntime { request, _ in .text("\(request.stage) done") }
        let hot = ScriptedThermalSensor([.critical, .nominal])
        let events = EventLog()
        let second = try await Self.executor(fixed, store: store, sensor: hot, delays: DelayLog(), events: events)
            .resume(id, claim: .current())

        // Then the only pause is before 'build', the stage that runs; the reused 'plan' reads nothing
        #expect(second == .completed(runID: id))
        #expect(fixed.requests.map(\.stage) == ["build"])
        #expect(hot.readings == 2)
        let pauses = try store.events(id).filter { $0.kind.rawValue.hasPrefix("thermal-") }.map { "\($0.kind) \($0.stage ?? "")" }
        #expect(pauses == ["thermal-pause build", "thermal-resume build"])
        #expect(events.thermal == ["paused build critical 600", "resumed build nominal 15"])
    }

    @Test func pausesHappenBetweenCriticRounds() async throws {
        let yaml = """
            version: 1
            stages:
              plan:
                model: m
                prompt: Plan
              review:
                model: m
                reviews: plan
                max_rounds: 2
                prompt: "Review {{stages.plan.output}}"
            """
        var snapshot = try snapshot(yaml)
        snapshot.profile = try Self.hotSnapshot().profile
        let counter = Counter()
        let runtime = ScriptedRuntime { request, _ in
            request.stage == "review"
                ? .text(counter.next() == 0 ? #"{"verdict": "revise", "feedback": "more"}"# : #"{"verdict": "approve", "feedback": ""}"#)
                : .text("plan")
        }
        // Readings: plan 1, review 1, plan 2 (hot), one poll, review 2.
        let sensor = ScriptedThermalSensor([.nominal, .nominal, .serious, .nominal, .nominal])
        let store = try RunStore.inMemory()
        let outcome = try await Self.executor(runtime, store: store, sensor: sensor, delays: DelayLog(), events: EventLog())
            .start(snapshot, inputs: [:], claim: .current())
        let payloads = try store.events(outcome.runID).filter { $0.kind == .thermalPause }.map { "\($0.stage ?? "") \($0.payload ?? "")" }
        #expect(payloads == [#"plan {"max_wait":600,"pause_at":"serious","round":2,"state":"serious"}"#])
        #expect(sensor.readings == 5)
    }

    @Test func ctrlCDuringAPauseInterruptsTheRun() async throws {
        // Given a machine that never cools and a real sleep of an hour per poll
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in .text("\(request.stage) done") }
        let (paused, signal) = AsyncStream.makeStream(of: Void.self)
        var executor = Executor(
            store: store, runtimes: runtime,
            observer: { event in
                if case .thermalPaused = event { signal.yield() }
            })
        executor.thermal = ScriptedThermalSensor([.nominal, .critical])
        let snapshot = try Self.hotSnapshot("{max_wait: 10h, poll_interval: 1h}")
        let task = Task { [executor] in try await executor.start(snapshot, inputs: [:], claim: .current()) }

        // When the run is cancelled once it has paused before 'build'
        for await _ in paused { break }
        task.cancel()
        let outcome = try await task.value

        // Then it stops as an interrupted run, with the pause recorded and 'build' never started
        guard case .interrupted(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(try store.run(id).status == .interrupted)
        #expect(runtime.requests.map(\.stage) == ["plan"])
        let kinds = try store.events(id).map(\.kind).filter { $0.rawValue.hasPrefix("thermal-") || $0 == .runInterrupted }
        #expect(kinds == [.thermalPause, .runInterrupted])
    }
}

/// Collects the thermal events an executor reports, as short lines.
final class EventLog: Sendable {
    private let lines = LockedList<String>()

    func append(_ event: RunEvent) {
        switch event {
        case .thermalPaused(let stage, _, let state, let maxWait): lines.append("paused \(stage) \(state) \(Int(maxWait))")
        case .thermalResumed(let stage, _, let state, let waited):
            lines.append("resumed \(stage) \(state?.description ?? "unknown") \(Int(waited))")
        case .thermalWaitExceeded(let stage, _, let state, let waited): lines.append("exceeded \(stage) \(state) \(Int(waited))")
        default: return
        }
    }

    var thermal: [String] { lines.values }
}
