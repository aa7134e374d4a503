import BatonEngine
import BatonSpec
import Foundation
import Testing

/// The engine's session layer that the commands call: the stale-run rule, the load path that prints nothing,
/// and the profile catalog (moved out of BatonCommands; the command tests cover them end to end).
@Suite struct SessionLayerTests {
    static func record(status: RunStatus, token: String? = "t", pid: Int? = 42, host: String? = "here", heartbeat: Double? = 1000)
        -> RunRecord
    {
        RunRecord(
            id: "r", pipeline: "p", pipelinePath: nil, pipelineHash: "h", snapshot: "", inputs: "{}", status: status, createdAt: 0,
            updatedAt: 0, leaseToken: token, leasePid: pid, leaseHost: host, leaseHeartbeat: heartbeat)
    }

    @Test func aRunningRunWithALiveHolderShowsRunning() {
        let run = Self.record(status: .running)
        #expect(run.displayStatus(now: 1005, host: "here", isAlive: { _ in true }) == "running")
    }

    @Test func aRunningRunWhoseProcessDiedShowsStopped() {
        // No lease, a heartbeat older than the lease's staleness, a pid gone on this host: each is a dead holder.
        #expect(Self.record(status: .running, token: nil).displayStatus(now: 1005, host: "here", isAlive: { _ in true }) == "stopped")
        #expect(
            Self.record(status: .running).displayStatus(
                now: 1000 + RunStore.leaseHungAfter + 1, host: "here", isAlive: { _ in true }) == "stopped")
        #expect(
            Self.record(status: .running, host: "elsewhere").displayStatus(
                now: 1000 + RunStore.leaseStaleAfter + 1, host: "here", isAlive: { _ in true }) == "stopped")
        #expect(Self.record(status: .running).displayStatus(now: 1005, host: "here", isAlive: { _ in false }) == "stopped")
    }

    @Test func aLiveProcessOnThisHostKeepsItsRunThroughALateHeartbeat() {
        // A loaded machine delays heartbeats; on this host the pid says the holder lives (up to leaseHungAfter).
        let late = Self.record(status: .running)
        #expect(late.displayStatus(now: 1000 + RunStore.leaseStaleAfter + 30, host: "here", isAlive: { _ in true }) == "running")
    }

    @Test func aPidIsOnlyCheckedOnTheHostThatRecordedIt() {
        let run = Self.record(status: .running, host: "elsewhere")
        #expect(run.displayStatus(now: 1005, host: "here", isAlive: { _ in false }) == "running")
    }

    @Test func aFinishedRunShowsItsRecordedStatus() {
        let run = Self.record(status: .failed, token: nil, heartbeat: nil)
        #expect(run.displayStatus(now: 1005, host: "here", isAlive: { _ in false }) == "failed")
        #expect(Self.record(status: .other("paused"), token: nil).displayStatus(now: 1005, host: "here") == "paused")
    }

    /// A folder with `files` (relative path → text), removed by the caller.
    static func folder(_ files: [String: String]) throws -> String {
        let root = NSTemporaryDirectory() + "baton-session-\(UUID().uuidString.prefix(8))"
        for (path, text) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func theLoaderHandsBackAnInvalidPipelinesDiagnosticsInsteadOfPrinting() async throws {
        let root = try Self.folder([
            "profiles/p.yaml": "version: 1\nruntimes:\n  echo: {kind: echo}\nmodels:\n  small: {runtime: echo}\n",
            "pipelines/bad.yaml": "version: 1\nname: bad\nstages:\n  a:\n    model: small\n    prompt: \"{{ nosuch }}\"\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let workspace = Workspace(
            pipelineDirectories: [root + "/pipelines"], profileDirectories: [root + "/profiles"], environment: [:], currentDirectory: root)
        await #expect(throws: PipelineInvalid.self) {
            try await PlanLoader(workspace: workspace).load("bad", profileName: "p", discover: false, database: nil)
        }
        do {
            _ = try await PlanLoader(workspace: workspace).load("bad", profileName: "p", discover: false, database: nil)
        } catch let invalid as PipelineInvalid {
            #expect(invalid.diagnostics.hasErrors)
            #expect(invalid.sources.keys.contains { $0.hasSuffix("bad.yaml") })
        }
    }

    @Test func theProfileCatalogMarksTheHiddenAndTheBuiltInDefault() throws {
        let profile = "version: 1\ndescription: D\nruntimes:\n  echo: {kind: echo}\n"
        let root = try Self.folder(["first/a.yaml": profile, "second/a.yaml": profile, "second/default.yaml": profile])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let workspace = Workspace(
            pipelineDirectories: [], profileDirectories: [root + "/first", root + "/second"], environment: [:], currentDirectory: root)
        let entries = try ProfileCatalog(workspace: workspace).entries(inUse: "a")
        #expect(entries.map(\.name) == ["a", "a", "default", "default"])
        #expect(entries[0].inUse == true && entries[0].hiddenBy == nil)
        #expect(entries[1].inUse == nil && entries[1].hiddenBy == entries[0].path)
        // The file named default comes first on the path and hides the built-in profile, which is listed last.
        #expect(entries[3].builtIn == true && entries[3].hiddenBy == entries[2].path)
    }
}
