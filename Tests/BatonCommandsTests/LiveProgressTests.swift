import BatonTestSupport
import Foundation
import Testing

/// On a terminal, a model load and the wait for a first token show a live line with the time so far, redrawn in
/// place and cleared when the wait ends; the attempt line gives the stage count. Not on a non-terminal.
///
/// The terminal is util-linux `script -qec` (BSD `script` on macOS takes other flags), so these run on Linux.
@Suite(.enabled(if: hasUtilLinuxScript())) struct LiveProgressTests {
    /// Runs `baton arguments` with standard error on a pseudo-terminal (util-linux `script`), returning what the
    /// terminal received. Standard output goes to a file, as when a user redirects the outputs.
    static func onTerminal(_ arguments: [String], environment: [String: String], folder: String) async throws -> String {
        let typescript = folder + "/typescript"
        let quoted = ([BatonProcess.binary] + arguments).map { "'\($0.replacingOccurrences(of: "'", with: "'\\''"))'" }
        let command = quoted.joined(separator: " ") + " > '\(folder)/out.txt'"
        let variables = environment.map { "\($0.key)=\($0.value)" }.sorted()
        let result = try await Tools.run("/usr/bin/env", variables + ["script", "-qec", command, typescript])
        #expect(result.status == 0, "\(result.output)")
        return try String(contentsOfFile: typescript, encoding: .utf8)
    }

    static let pipeline = """
        version: 1
        stages:
          plan:
            model: tiny
            prompt: Plan a picnic.
          write:
            model: tiny
            prompt: "Write from {{stages.plan.output}}"
        """

    @Test func theWaitForAFirstTokenIsALiveLineOnATerminalOnly() async throws {
        // Given an echo model that waits a second before its first token
        let sandbox = try RunSandbox("live")
        let file = sandbox.folder + "/live.yaml"
        try Self.pipeline.write(toFile: file, atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        sandbox.environment["BATON_ECHO_CALL_DELAY"] = "1s"
        let arguments = ["run", file, "--runtime", "echo"]

        // When it runs on a terminal
        let screen = try await Self.onTerminal(arguments, environment: sandbox.environment, folder: sandbox.folder)

        // Then the wait is shown and redrawn in place (carriage return, clear line) with a growing time, then cleared
        let redraw = "\r\u{1B}[Kwaiting for the first token… "
        #expect(screen.components(separatedBy: redraw).count - 1 >= 4, "\(screen.debugDescription)")
        let times = screen.components(separatedBy: redraw).dropFirst().compactMap { Double($0.prefix { $0 != " " }) }
        #expect(times.first ?? 1 < 0.5 && times.max() ?? 0 >= 0.7, "\(times)")
        #expect(screen.contains("\r\u{1B}[K  ✓ plan"), "\(screen.debugDescription)")
        #expect(screen.contains("▸ plan · echo:tiny · stage 1 of 2") || screen.contains("· stage 1 of 2"), "\(screen.debugDescription)")
        #expect(screen.contains("· stage 2 of 2"))

        // And without a terminal there is no live line, only the plain lines with the stage count
        let plain = try await sandbox.baton(arguments)
        #expect(plain.status == 0, "\(plain.summary)")
        #expect(!plain.stderr.contains("waiting for the first token"))
        #expect(!plain.stderr.contains("\u{1B}[K") && !plain.stderr.contains("\r"))
        #expect(plain.stderr.contains("· stage 1 of 2"), "\(plain.stderr)")
    }

    @Test func aModelLoadIsALiveLineNamingTheModelAndRuntime() async throws {
        // Given an Ollama stand-in that takes a second to load a model
        var settings = OllamaStandIn.Settings()
        settings.loadDelay = 1
        try await OllamaStandIn.with(models: [OllamaStandIn.Model("smollm2:135m")], settings: settings) { standIn in
            let sandbox = try RunSandbox("live-load")
            try FileManager.default.createDirectory(atPath: sandbox.folder + "/profiles", withIntermediateDirectories: true)
            try """
            version: 1
            name: stand-in
            memory_budget: 8GB
            runtimes:
              ollama: {kind: ollama, url: "\(standIn.baseURL)"}
            models:
              smollm2:135m: {runtime: ollama, footprint: 300MB}
            """.write(toFile: sandbox.folder + "/profiles/stand-in.yaml", atomically: true, encoding: .utf8)
            let file = sandbox.folder + "/load.yaml"
            try Self.pipeline.replacingOccurrences(of: "model: tiny", with: "model: smollm2:135m")
                .write(toFile: file, atomically: true, encoding: .utf8)
            sandbox.environment["BATON_PROFILE_PATH"] = sandbox.folder + "/profiles"
            sandbox.environment["BATON_ECHO_SCRIPT"] = nil

            // When it runs on a terminal
            let screen = try await Self.onTerminal(
                ["run", file, "--profile", "stand-in"], environment: sandbox.environment, folder: sandbox.folder)

            // Then the load is a live line naming the model and the runtime, cleared by the line saying it loaded
            #expect(
                screen.components(separatedBy: "\r\u{1B}[Kloading smollm2:135m on ollama… ").count - 1 >= 2, "\(screen.debugDescription)")
            #expect(screen.contains("\r\u{1B}[K  loaded ollama:smollm2:135m in "), "\(screen.debugDescription)")
        }
    }
}

/// Whether util-linux `script` is here to give a child a pseudo-terminal.
private func hasUtilLinuxScript() -> Bool {
    #if os(Linux)
        FileManager.default.isExecutableFile(atPath: "/usr/bin/script")
    #else
        false
    #endif
}
