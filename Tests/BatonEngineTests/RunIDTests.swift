import Foundation
import Testing

@testable import BatonEngine

@Suite struct RunIDTests {
    @Test func aRunIDIsTheUTCSecondAndFourHexDigits() {
        #expect(Executor.newRunID(at: 1_796_589_682, random: 0x8a3f) == "20261206-204122-8a3f")
    }

    @Test func itsFieldsArePaddedToTheirWidth() {
        #expect(Executor.newRunID(at: 951_782_405, random: 0xa) == "20000229-000005-000a")
    }

    @Test func aNewRunIDHasTheSameShape() {
        let id = Executor.newRunID()
        #expect(id.wholeMatch(of: /\d{8}-\d{6}-[0-9a-f]{4}/) != nil, "\(id)")
    }

    @Test func aDrawnIDThatIsTakenIsDrawnAgainInsideTheTransaction() throws {
        // Given a store where the first two ids a run would draw are taken (two runs in one second drew the same 16 bits)
        let path = RunStoreTests.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("20261206-204122-8a3f"))
        try store.createRun(RunStoreTests.run("20261206-204122-0001"))
        var draws = ["20261206-204122-0001", "20261206-204122-0002"]

        // When a third run draws the first of them
        let id = try store.createRun(RunStoreTests.run("20261206-204122-8a3f"), freshID: { draws.removeFirst() })

        // Then it is created under the first free id, and the two earlier runs are untouched
        #expect(id == "20261206-204122-0002")
        #expect(draws.isEmpty)
        #expect(try store.runs().map(\.id).sorted() == ["20261206-204122-0001", "20261206-204122-0002", "20261206-204122-8a3f"])
    }

    @Test func withoutFreshIDATakenIDIsAnError() throws {
        let path = RunStoreTests.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        #expect(throws: StoreError.self) { try store.createRun(RunStoreTests.run("r1")) }
    }
}
