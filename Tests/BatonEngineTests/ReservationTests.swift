import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Reservations against runtime hosts' budgets, on both store backends: the sum and the insert happen under the
/// host's lock, so threads (and processes) reserving at once never take a host past its budget.
@Suite struct ReservationTests {
    /// The two backends: a SQLite file, and (when the suite's cluster is set) a fresh PostgreSQL database.
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }

        /// A new empty store; nil when PostgreSQL has no cluster (the case is then skipped with the reason).
        func open() throws -> (store: RunStore, cleanup: @Sendable () -> Void)? {
            switch self {
            case .sqlite:
                let folder = NSTemporaryDirectory() + "baton-reservations-\(UUID().uuidString)"
                let store = try RunStore(path: folder + "/runs.sqlite")
                return (store, { try? FileManager.default.removeItem(atPath: folder) })
            case .postgres:
                guard let url = try PostgresTestDatabase.fresh() else { return nil }
                return (try RunStore(path: url), {})
            }
        }
    }

    static let gigabyte: Int64 = 1_000_000_000

    static func run(_ id: String, status: RunStatus = .running) -> RunRecord {
        RunRecord(
            id: id, pipeline: "p", pipelinePath: nil, pipelineHash: "h", snapshot: "{}", inputs: "{}", status: status,
            error: nil, parentRunID: nil, rerunFrom: nil, createdAt: 1, updatedAt: 1, finishedAt: nil, leaseToken: nil,
            leasePid: nil, leaseHost: nil, leaseHeartbeat: nil)
    }

    static func request(_ run: String, model: String, bytes: Int64, host: String = "http://a:11434", epoch: Int64 = 0)
        -> ReservationRequest
    {
        ReservationRequest(host: host, model: model, bytes: bytes, runID: run, leaseEpoch: epoch, stage: "s")
    }

    /// Opens `backend`, or records why the case is skipped.
    static func store(_ backend: Backend) throws -> (store: RunStore, cleanup: @Sendable () -> Void)? {
        let opened = try backend.open()
        if opened == nil { print("skipped: \(PostgresTestDatabase.skipReason)") }
        return opened
    }

    @Test(arguments: Backend.allCases) func manyThreadsReservingAtOnceNeverExceedTheBudget(_ backend: Backend) async throws {
        guard let (store, cleanup) = try Self.store(backend) else { return }
        defer { cleanup() }
        // Given a host of 10 GB and 24 runs each wanting its own 3 GB model
        try store.registerRuntimeHosts([RuntimeHostRecord(url: "http://a:11434", runtime: "pool", budgetBytes: 10 * Self.gigabyte)])
        let runs = (0..<24).map { "r\($0)" }
        for run in runs { _ = try store.createRun(Self.run(run)) }
        // When they all reserve at once, from their own threads
        let outcomes = try await withThrowingTaskGroup(of: ReservationOutcome.self) { group in
            for (index, run) in runs.enumerated() {
                group.addTask {
                    try await Task.detached {
                        try store.reserve(Self.request(run, model: "m\(index)", bytes: 3 * Self.gigabyte))
                    }.value
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // Then exactly three fit, the rest were told there is no room, and the host holds 9 GB
        let reserved = outcomes.filter { if case .reserved = $0 { true } else { false } }
        #expect(reserved.count == 3)
        #expect(outcomes.filter { if case .noRoom = $0 { true } else { false } }.count == 21)
        let host = try #require(try store.hostReservations().first)
        #expect(host.reservedBytes == 9 * Self.gigabyte)
        #expect(host.reservations.count == 3)
    }

    @Test(arguments: Backend.allCases) func aModelSeveralRunsShareCountsOnce(_ backend: Backend) throws {
        guard let (store, cleanup) = try Self.store(backend) else { return }
        defer { cleanup() }
        try store.registerRuntimeHosts([RuntimeHostRecord(url: "http://a:11434", runtime: "pool", budgetBytes: 10 * Self.gigabyte)])
        for run in ["r1", "r2", "r3"] { _ = try store.createRun(Self.run(run)) }
        // Given r1 holds a 6 GB model
        guard case .reserved(_, let firstShared) = try store.reserve(Self.request("r1", model: "big", bytes: 6 * Self.gigabyte)) else {
            Issue.record("the first reservation did not fit")
            return
        }
        #expect(!firstShared)
        // When r2 reserves the same model, it shares it: no new room is taken
        guard case .reserved(_, let shared) = try store.reserve(Self.request("r2", model: "big", bytes: 6 * Self.gigabyte)) else {
            Issue.record("the shared model did not fit")
            return
        }
        #expect(shared)
        // Then 4 GB are left: a 4 GB model fits, a further 1 GB one does not
        #expect(try store.hostReservations().first?.reservedBytes == 6 * Self.gigabyte)
        guard case .reserved = try store.reserve(Self.request("r3", model: "four", bytes: 4 * Self.gigabyte)) else {
            Issue.record("4 GB did not fit beside a shared 6 GB model on a 10 GB host")
            return
        }
        #expect(try store.reserve(Self.request("r3", model: "one", bytes: Self.gigabyte)) == .noRoom(free: 0, budget: 10 * Self.gigabyte))
        // And reserving again what a run holds gives its row back
        let again = try store.reserve(Self.request("r2", model: "big", bytes: 6 * Self.gigabyte))
        #expect(try store.hostReservations().first?.reservations.count == 3)
        if case .reserved = again {} else { Issue.record("a run's own reservation was refused: \(again)") }
    }

    @Test(arguments: Backend.allCases) func releaseFreesTheRoomOfOneRunOnly(_ backend: Backend) throws {
        guard let (store, cleanup) = try Self.store(backend) else { return }
        defer { cleanup() }
        try store.registerRuntimeHosts([RuntimeHostRecord(url: "http://a:11434", runtime: "pool", budgetBytes: 10 * Self.gigabyte)])
        for run in ["r1", "r2"] { _ = try store.createRun(Self.run(run)) }
        _ = try store.reserve(Self.request("r1", model: "big", bytes: 6 * Self.gigabyte))
        _ = try store.reserve(Self.request("r2", model: "big", bytes: 6 * Self.gigabyte))
        _ = try store.reserve(Self.request("r1", model: "small", bytes: 2 * Self.gigabyte))
        // When r1 gives back "big", r2 still holds it
        #expect(try store.releaseReservations(runID: "r1", host: "http://a:11434", model: "big") == 1)
        let host = try #require(try store.hostReservations().first)
        #expect(host.models == ["big", "small"])
        #expect(host.reservedBytes == 8 * Self.gigabyte)
        // And releasing the rest of r1 leaves r2's
        #expect(try store.releaseReservations(runID: "r1") == 1)
        #expect(try store.hostReservations().first?.reservations.map(\.runID) == ["r2"])
    }

    @Test(arguments: Backend.allCases) func staleReservationsAreReleasedAndNeverCounted(_ backend: Backend) throws {
        guard let (store, cleanup) = try Self.store(backend) else { return }
        defer { cleanup() }
        try store.registerRuntimeHosts([RuntimeHostRecord(url: "http://a:11434", runtime: "pool", budgetBytes: 10 * Self.gigabyte)])
        for run in ["live", "finished", "moved"] { _ = try store.createRun(Self.run(run)) }
        // Given three runs holding 3 GB each
        for run in ["live", "finished", "moved"] { _ = try store.reserve(Self.request(run, model: "m-\(run)", bytes: 3 * Self.gigabyte)) }
        // When one finishes, and another's lease epoch moves on (a worker died and the run was requeued), and one
        // reservation names a run that does not exist
        try store.setStatus("finished", .completed, event: .runCompleted)
        try Self.bumpEpoch("moved", store: store)
        _ = try store.reserve(Self.request("ghost", model: "m-ghost", bytes: 3 * Self.gigabyte))
        // Then only the live run's room counts, even before the sweep
        #expect(try store.hostReservations().first?.reservations.map(\.runID) == ["live"])
        guard case .reserved = try store.reserve(Self.request("live", model: "seven", bytes: 7 * Self.gigabyte)) else {
            Issue.record("stale reservations were counted")
            return
        }
        // And the sweep deletes the three stale rows and keeps the live ones
        #expect(try store.releaseStaleReservations() == 3)
        #expect(try store.releaseStaleReservations() == 0)
        #expect(try store.hostReservations().first?.reservations.count == 2)
    }

    @Test(arguments: Backend.allCases) func hostsAreRecordedAndUpdated(_ backend: Backend) throws {
        guard let (store, cleanup) = try Self.store(backend) else { return }
        defer { cleanup() }
        try store.registerRuntimeHosts([
            RuntimeHostRecord(url: "http://b:11434", runtime: "pool", budgetBytes: 8 * Self.gigabyte, labels: ["gpu", "large"]),
            RuntimeHostRecord(url: "http://a:11434", runtime: "pool", budgetBytes: 4 * Self.gigabyte),
        ])
        try store.registerRuntimeHosts([RuntimeHostRecord(url: "http://a:11434", runtime: "pool", budgetBytes: 5 * Self.gigabyte)])
        let hosts = try store.hostReservations().map(\.host)
        #expect(hosts.map(\.url) == ["http://a:11434", "http://b:11434"])
        #expect(hosts.map(\.budgetBytes) == [5 * Self.gigabyte, 8 * Self.gigabyte])
        #expect(hosts.map(\.labels) == [[], ["gpu", "large"]])
        _ = try store.createRun(Self.run("r"))
        #expect(try store.reserve(Self.request("r", model: "m", bytes: 1, host: "http://nowhere:1")) == .unknownHost)
    }

    @Test(arguments: Backend.allCases) func aFencedRunCannotReserve(_ backend: Backend) throws {
        guard let (store, cleanup) = try Self.store(backend) else { return }
        defer { cleanup() }
        try store.registerRuntimeHosts([RuntimeHostRecord(url: "http://a:11434", runtime: "pool", budgetBytes: 10 * Self.gigabyte)])
        _ = try store.createRun(Self.run("r"))
        try Self.bumpEpoch("r", store: store)
        let stale = store.fenced(RunFence(runID: "r", epoch: 0, worker: "w1"))
        #expect(throws: StoreError.self) { try stale.reserve(Self.request("r", model: "m", bytes: Self.gigabyte)) }
        #expect(try store.hostReservations().first?.reservations.isEmpty == true)
    }

    /// Moves run `id`'s lease epoch on by one, as a takeover does (a requeue).
    static func bumpEpoch(_ id: String, store: RunStore) throws {
        let epoch = try store.run(id).leaseEpoch
        #expect(try store.requeueRun(RunFence(runID: id, epoch: epoch, worker: "w1"), reason: "test"))
    }
}
