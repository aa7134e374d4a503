import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// ``ProfileExport``: the exported file of a resolved profile is standalone (extends nothing, no error) and resolves
/// to the same profile; every shipped profile, the built-in one and a profile that sets every key are checked.
@Suite struct ProfileExportTests {
    /// Exports `profile`, reads the file back alone as `NAME.yaml`, and returns it resolved with its diagnostics.
    static func roundTrip(_ profile: ResolvedProfile) throws -> (ResolvedProfile?, [Diagnostic], String) {
        let text = try ProfileExport.yaml(of: profile)
        let document = ProfileDecoder.decode(SourceFile(path: "exported/\(profile.spec.name).yaml", text: text), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        return (resolved, diagnostics, text)
    }

    /// `spec` as the export should read back: the same values, extending nothing.
    static func standalone(_ spec: ProfileSpec) -> ProfileSpec {
        var spec = spec
        spec.extends = nil
        return spec
    }

    @Test(arguments: Fixtures.yamlFiles("profiles").map { ($0 as NSString).lastPathComponent.replacingOccurrences(of: ".yaml", with: "") })
    func aShippedProfileExportsToAStandaloneFileThatResolvesTheSame(_ name: String) throws {
        let loaded = try Fixtures.repositoryWorkspace().loadProfile(name)
        let original = try #require(loaded.profile, "\(loaded.diagnostics)")
        let (exported, diagnostics, text) = try Self.roundTrip(original)
        #expect(diagnostics.isEmpty, "\(diagnostics)\n\(text)")
        #expect(exported?.chain == [name])
        #expect(exported?.spec == Self.standalone(original.spec), "\(text)")
        #expect(!text.contains("\nextends:"))
    }

    @Test func theBuiltInDefaultExportsTheSame() throws {
        let document = BuiltInProfiles.defaultDocument(environment: ["BATON_LLAMA_URL": "http://127.0.0.1:8089"])
        let original = try #require(ProfileResolver.resolve(document) { _ in nil }.profile)
        let (exported, diagnostics, text) = try Self.roundTrip(original)
        #expect(diagnostics.isEmpty, "\(diagnostics)\n\(text)")
        #expect(exported?.spec == Self.standalone(original.spec), "\(text)")
    }

    @Test func aProfileSettingEveryKeyAndMergedFromAChainExportsTheSame() throws {
        let base = ProfileDecoder.decode(
            SourceFile(
                path: "base.yaml",
                text: """
                    version: 1
                    description: "Base: with a colon, # a hash and 'quotes'"
                    memory_budget: 12.5GB
                    default_runtime: cloud
                    runtimes:
                      cloud: {kind: openai, url: "https://api.example.test/v1", api_key_env: CLOUD_KEY, options: {api: compatible}}
                      box: {kind: ollama, url: "http://127.0.0.1:11434", options: {load_timeout: 90s}}
                      echo: {kind: echo}
                    models:
                      "true": {runtime: cloud, footprint: 0}
                      "qwen2.5:7b": {runtime: box, footprint: 1536MiB, context_length: 32768, capabilities: {coding: 6.5, reasoning: 7}}
                      tiny: {runtime: box, file: /models/tiny.gguf}
                    roles:
                      planner:
                        models: ["qwen2.5:7b", "cloud:gpt-x"]
                        capability: reasoning
                        temperature: 0.35
                        top_p: 0.9
                        top_k: 40
                        seed: -7
                        stop: ["\\n\\n", "END", "null"]
                        num_ctx: 4096
                        think: high
                        timeout: 1.5s
                        retry: {max_attempts: 5, initial_backoff: 250ms, max_backoff: 2h, multiplier: 1.5}
                      critic: {}
                    defaults:
                      max_tokens: 700
                      think: false
                      timeout: 90s
                    thermal: {enabled: false, pause_at: critical, max_wait: 45s, poll_interval: 5s}
                    """), environment: [:])
        let child = ProfileDecoder.decode(
            SourceFile(
                path: "child.yaml",
                text: """
                    version: 1
                    extends: base
                    memory_budget: auto
                    models:
                      tiny: {runtime: echo, footprint: 1GB}
                    roles:
                      planner: {temperature: 1}
                      critic: {models: ["true"]}
                    """), environment: [:])
        #expect(base.diagnostics.isEmpty && child.diagnostics.isEmpty, "\(base.diagnostics) \(child.diagnostics)")
        let (original, problems) = ProfileResolver.resolve(child) { $0 == "base" ? base : nil }
        #expect(problems.isEmpty, "\(problems)")
        let merged = try #require(original)
        let (exported, diagnostics, text) = try Self.roundTrip(merged)
        #expect(diagnostics.isEmpty, "\(diagnostics)\n\(text)")
        #expect(exported?.spec == Self.standalone(merged.spec), "\(text)")
        #expect(text.hasPrefix("# The profile 'child' exported by 'baton profiles export' with its chain merged (child extends base).\n"))
    }

    @Test func aValueAProfileFileWouldExpandAgainIsRefused() throws {
        let document = ProfileDecoder.decode(
            SourceFile(path: "odd.yaml", text: "version: 1\ndescription: \"costs ${AMOUNT:-$}{x}\"\n"), environment: ["AMOUNT": "${"])
        let profile = try #require(ProfileResolver.resolve(document) { _ in nil }.profile)
        #expect(throws: ProfileExport.Problem.expandableText(path: "description")) { try ProfileExport.yaml(of: profile) }
    }
}
