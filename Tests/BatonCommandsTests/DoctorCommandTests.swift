import BatonTestSupport
import Foundation
import Testing

/// `baton doctor` on the real binary: the thermal state and where cloud keys would come from.
@Suite struct DoctorCommandTests {
    @Test func doctorReportsTheThermalStateAndThePolicy() async throws {
        let tree = try FakeThermalTree()
        defer { tree.remove() }
        try tree.zone(
            0, temp: 96_000, trips: [(type: "passive", temp: 85_000), (type: "hot", temp: 95_000), (type: "critical", temp: 105_000)])
        let database = NSTemporaryDirectory() + "baton-doctor-\(UUID().uuidString.prefix(8)).sqlite"
        let result = try await BatonProcess.run(
            ["doctor", "--profile", "default", "--db", database],
            environment: [
                "BATON_THERMAL_PATH": tree.root, "BATON_OLLAMA_URL": "http://127.0.0.1:9", "BATON_LLAMA_URL": "http://127.0.0.1:9",
            ])
        #expect(result.stdout.contains("✓ thermal: serious; the profile pauses at serious"), "\(result.summary)")
        // Runtimes that are down make doctor exit 69, and it says which.
        #expect(result.status == 69)
        #expect(result.stdout.contains("✗ runtime ollama (ollama)"))
    }

    @Test func doctorSaysWhereACloudKeyWouldComeFromWithoutOpeningTheKeyFile() async throws {
        let canary = "sk-doctor-canary-0c1d2e3f"
        try await OpenAIStandIn.with(apiKey: canary, models: [.init("gpt-test")]) { openAI in
            let folder = NSTemporaryDirectory() + "baton-doctor-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try """
            version: 1
            runtimes:
              cloud: {kind: openai, url: "\(openAI.baseURL)", api_key_env: DOCTOR_KEY}
            """.write(toFile: folder + "/cloud.yaml", atomically: true, encoding: .utf8)
            let withKey = try await BatonProcess.run(
                ["doctor", "--profile", folder + "/cloud.yaml", "--db", folder + "/runs.sqlite"], environment: ["DOCTOR_KEY": canary])
            #expect(withKey.stdout.contains("accepts connections; key from DOCTOR_KEY"), "\(withKey.summary)")
            #expect(!withKey.stdout.contains(canary))
            let without = try await BatonProcess.run(
                ["doctor", "--profile", folder + "/cloud.yaml", "--db", folder + "/runs.sqlite"],
                environment: ["BATON_KEY_FILE": folder + "/absent.enc"])
            #expect(
                without.stdout.contains("DOCTOR_KEY is not set; no key file; set the variable or run 'baton keys set cloud'"),
                "\(without.summary)")
        }
    }
}
