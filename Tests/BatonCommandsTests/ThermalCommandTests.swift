import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton run` with a profile's thermal policy, the real binary reading a fake sysfs tree through
/// `BATON_THERMAL_PATH`.
@Suite struct ThermalCommandTests {
    static let pipeline = """
        version: 1
        stages:
          plan:
            model: m
            prompt: Plan
          build:
            model: m
            prompt: "Build {{stages.plan.output}}"
        """

    static let profile = """
        version: 1
        name: hot
        default_runtime: echo
        runtimes:
          echo: {kind: echo}
        thermal: {pause_at: serious, max_wait: 300ms, poll_interval: 100ms}
        """

    /// A folder with the pipeline, the profile and a thermal tree whose one zone is at `temperature`
    /// millidegrees (hot trip at 85 °C), and the environment that uses them.
    static func sandbox(temperature: Int) throws -> (folder: String, tree: FakeThermalTree, environment: [String: String]) {
        let folder = NSTemporaryDirectory() + "baton-thermal-cli-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder + "/profiles", withIntermediateDirectories: true)
        try pipeline.write(toFile: folder + "/two.yaml", atomically: true, encoding: .utf8)
        try profile.write(toFile: folder + "/profiles/hot.yaml", atomically: true, encoding: .utf8)
        let tree = try FakeThermalTree.laptop(at: temperature)
        let environment = [
            "BATON_DB": folder + "/runs.sqlite", "BATON_PROFILE_PATH": folder + "/profiles",
            "BATON_THERMAL_PATH": tree.root,
        ]
        return (folder, tree, environment)
    }

    @Test func aHotMachinePausesBeforeEachStageAndSaysSo() async throws {
        let (folder, tree, environment) = try Self.sandbox(temperature: 90000)
        defer {
            tree.remove()
            try? FileManager.default.removeItem(atPath: folder)
        }

        let result = try await BatonProcess.run(["run", "two.yaml", "--profile", "hot"], in: folder, environment: environment)

        #expect(result.status == 0, "\(result.summary)")
        for stage in ["plan", "build"] {
            #expect(
                result.stderr.contains("⏸ pausing before \(stage): machine is hot (serious), waiting up to 300 ms for it to cool"),
                "\(result.summary)")
            #expect(
                result.stderr.contains("▶ still hot (serious) after 300 ms, the profile's thermal max_wait: running \(stage) anyway"),
                "\(result.summary)")
        }
        #expect(result.stderr.contains("completed"))
    }

    @Test func jsonLinesCarryThePausesAndACoolMachineDoesNotPause() async throws {
        let (folder, tree, environment) = try Self.sandbox(temperature: 90000)
        defer {
            tree.remove()
            try? FileManager.default.removeItem(atPath: folder)
        }

        let hot = try await BatonProcess.run(["run", "two.yaml", "--profile", "hot", "--json"], in: folder, environment: environment)
        #expect(hot.status == 0, "\(hot.summary)")
        let events = hot.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let thermal = events.filter { ($0["event"] as? String)?.hasPrefix("thermal-") == true }
        #expect(
            thermal.map { "\($0["event"]!) \($0["stage"]!) \($0["state"]!)" } == [
                "thermal-pause plan serious", "thermal-wait-exceeded plan serious",
                "thermal-pause build serious", "thermal-wait-exceeded build serious",
            ])
        #expect(thermal.first?["max_wait"] as? Double == 0.3)

        try tree.zone(0, temp: 60000, trips: FakeThermalTree.laptopTrips)
        let cool = try await BatonProcess.run(["run", "two.yaml", "--profile", "hot"], in: folder, environment: environment)
        #expect(cool.status == 0, "\(cool.summary)")
        #expect(!cool.stderr.contains("pausing"), "\(cool.summary)")
        #expect(cool.stderr.contains("▸ build"), "\(cool.summary)")
    }
}
