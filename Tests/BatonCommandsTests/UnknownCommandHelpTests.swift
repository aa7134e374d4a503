import BatonTestSupport
import Foundation
import Testing

/// Help for a command that does not exist says so, suggests the nearest command and exits 64, instead of
/// printing the overview and exiting 0.
@Suite struct UnknownCommandHelpTests {
    @Test(arguments: [
        (["help", "rnu"], "unknown command 'baton rnu'; did you mean 'baton run'?"),
        (["rnu", "--help"], "unknown command 'baton rnu'; did you mean 'baton run'?"),
        (["help", "profils"], "unknown command 'baton profils'; did you mean 'baton profiles'?"),
        (["keys", "sett", "--help"], "unknown command 'baton keys sett'; did you mean 'baton keys set'?"),
        (["help", "keys", "sett"], "unknown command 'baton keys sett'; did you mean 'baton keys set'?"),
        (["help", "frobnicate"], "unknown command 'baton frobnicate' ('baton --help' lists the commands)"),
    ])
    func helpForAnUnknownCommandExits64(arguments: [String], message: String) async throws {
        let result = try await BatonProcess.run(arguments)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("error: \(message)"), "\(result.stderr)")
        #expect(!result.stdout.contains("OVERVIEW"))
    }

    @Test(arguments: [
        ["help", "run"], ["run", "--help"], ["help", "keys", "set"], ["keys", "set", "--help"], ["help"], ["run", "x.yaml", "-h"],
    ])
    func helpForARealCommandStillWorks(arguments: [String]) async throws {
        let result = try await BatonProcess.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("USAGE: baton"), "\(result.stdout)")
    }
}
