import BatonEngine
import Foundation
import Testing

/// Placement on a runtime pool, pure: filter (labels, presence, answer, fit) then score (resident, eviction, load).
@Suite struct PlacementTests {
    static let gigabyte: Int64 = 1_000_000_000

    static func host(
        _ url: String, budget: Int64 = 10, labels: [String] = [], reserved: [(run: String, model: String, gigabytes: Int64)] = [],
        resident: [String: Int64?]? = [:], installed: Set<String>? = nil
    ) -> PoolPlacement.HostView {
        PoolPlacement.HostView(
            url: url, labels: labels, budget: budget * gigabyte,
            reservations: reserved.enumerated().map { index, row in
                ReservationRecord(
                    id: Int64(index + 1), host: url, model: row.model, bytes: row.gigabytes * gigabyte, runID: row.run, leaseEpoch: 0,
                    stage: nil, createdAt: 0)
            },
            resident: resident, installed: installed)
    }

    static func request(_ model: String = "m", gigabytes: Int64 = 4, labels: [String] = [], stickTo: String? = nil)
        -> PoolPlacement.Request
    {
        PoolPlacement.Request(model: model, bytes: gigabytes * gigabyte, labels: labels, stickTo: stickTo, runID: "me")
    }

    @Test func hostsWithoutTheLabelsAreLeftOut() {
        let decision = PoolPlacement.place(
            Self.request(labels: ["gpu"]), on: [Self.host("http://a"), Self.host("http://b", labels: ["gpu", "large"])])
        #expect(decision.host == "http://b")
        #expect(decision.excluded["http://a"] == .labels(["gpu"]))
        #expect(decision.reason.contains("the only host that fits"))
    }

    @Test func hostsWithoutTheModelOrThatDoNotAnswerAreLeftOut() {
        let decision = PoolPlacement.place(
            Self.request(),
            on: [
                Self.host("http://a", installed: ["other"]), Self.host("http://b", resident: nil),
                Self.host("http://c", installed: ["m", "other"]),
            ])
        #expect(decision.host == "http://c")
        #expect(decision.excluded["http://a"] == .missingModel)
        #expect(decision.excluded["http://b"] == .unreachable)
    }

    @Test func aModelThatDoesNotFitWaitsUnlessItNeverCan() {
        // A host whose reservations leave 2 GB: the 4 GB model waits for room
        let full = PoolPlacement.place(Self.request(), on: [Self.host("http://a", reserved: [("r1", "x", 8)])])
        #expect(full.host == nil)
        #expect(full.excluded["http://a"] == .noRoom(free: 2 * Self.gigabyte))
        #expect(full.mayWait)
        // A model larger than every budget, or on no host with its labels, never fits: no waiting
        let large = PoolPlacement.place(Self.request(gigabytes: 12), on: [Self.host("http://a")])
        #expect(large.excluded["http://a"] == .tooLarge(budget: 10 * Self.gigabyte))
        #expect(!large.mayWait)
        let unlabelled = PoolPlacement.place(Self.request(labels: ["gpu"]), on: [Self.host("http://a", reserved: [("r1", "x", 8)])])
        #expect(!unlabelled.mayWait)
        #expect(unlabelled.exclusionText == "http://a lacks label gpu")
    }

    @Test func aModelAnotherRunReservedTakesNoNewRoom() {
        // 8 GB reserved, 6 of them by another run's copy of the same model: a 6 GB reservation of it fits
        let decision = PoolPlacement.place(
            Self.request(gigabytes: 6), on: [Self.host("http://a", reserved: [("r1", "m", 6), ("r2", "x", 2)], resident: ["m": nil])])
        #expect(decision.host == "http://a")
    }

    @Test func aHostWhereTheModelIsResidentComesFirst() {
        let decision = PoolPlacement.place(
            Self.request(),
            on: [Self.host("http://a"), Self.host("http://b", reserved: [("r1", "x", 2)], resident: ["m": 4 * Self.gigabyte, "x": nil])])
        #expect(decision.host == "http://b")
        #expect(decision.score?.resident == true)
        #expect(decision.reason.contains("resident"))
    }

    @Test func thenTheHostThatMustUnloadLeast() {
        // a holds an idle 8 GB model (reserved by nobody) that must go; b holds an idle 3 GB one that may stay
        let decision = PoolPlacement.place(
            Self.request(),
            on: [
                Self.host("http://a", resident: ["idle": 8 * Self.gigabyte]), Self.host("http://b", resident: ["idle": 3 * Self.gigabyte]),
            ])
        #expect(decision.host == "http://b")
        #expect(decision.scores["http://a"]?.evictionBytes == 8 * Self.gigabyte)
        #expect(decision.scores["http://b"]?.evictionBytes == 0)
        // The evictions are the idle models only, the largest first
        let host = Self.host(
            "http://c", reserved: [("r1", "kept", 2)], resident: ["kept": nil, "small": 1 * Self.gigabyte, "big": 5 * Self.gigabyte])
        #expect(PoolPlacement.evictions(on: host, for: Self.request(gigabytes: 6)).map(\.name) == ["big"])
    }

    @Test func thenTheHostWithFewestReservations() {
        let decision = PoolPlacement.place(
            Self.request(gigabytes: 2),
            on: [
                Self.host("http://a", reserved: [("r1", "x", 1), ("r2", "y", 1)]), Self.host("http://b", reserved: [("r3", "z", 3)]),
            ])
        #expect(decision.host == "http://b")
        #expect(decision.reason.contains("1 reservation in flight"))
    }

    @Test func theSameViewsGiveTheSameHostInAnyOrder() {
        let hosts = [Self.host("http://c"), Self.host("http://a"), Self.host("http://b")]
        #expect(PoolPlacement.place(Self.request(), on: hosts).host == "http://a")
        #expect(PoolPlacement.place(Self.request(), on: hosts.reversed()).host == "http://a")
    }

    @Test func aLoopsLaterRoundsStayOnTheHostOfRoundOne() {
        // b would win (the model is resident there), but round 1 ran on a
        let hosts = [Self.host("http://a"), Self.host("http://b", resident: ["m": nil])]
        let decision = PoolPlacement.place(Self.request(stickTo: "http://a"), on: hosts)
        #expect(decision.host == "http://a")
        #expect(decision.excluded["http://b"] == .notSticky("http://a"))
        // And when a has no room, the round waits for it rather than moving
        let full = PoolPlacement.place(
            Self.request(stickTo: "http://a"), on: [Self.host("http://a", reserved: [("r1", "x", 8)]), Self.host("http://b")])
        #expect(full.host == nil)
        #expect(full.mayWait)
    }
}
