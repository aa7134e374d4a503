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
}
