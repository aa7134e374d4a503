import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// A profile runtime's `hosts:` (a runtime pool): what decodes, and a located diagnostic for each mistake.
@Suite struct PoolProfileTests {
    static func decode(_ yaml: String) -> ProfileDocument {
        ProfileDecoder.decode(SourceFile(path: "pool.yaml", text: yaml), environment: ["GPU_HOST": "http://10.0.0.9:11434"])
    }

    @Test func aPoolDecodesWithItsHostsBudgetsAndLabels() throws {
        let document = Self.decode(
            """
            version: 1
            runtimes:
              pool:
                kind: ollama
                hosts:
                  - {url: "http://10.0.0.2:11434", budget: 24GB, labels: [gpu, large]}
                  - url: ${GPU_HOST}
                    budget: 16 GiB
                    labels: gpu
                  - {url: "http://10.0.0.3:11434", budget: 8GB}
            """)
        #expect(document.diagnostics.isEmpty, "\(document.diagnostics)")
        let runtime = try #require(document.spec?.runtime(named: "pool"))
        #expect(runtime.isPool)
        #expect(runtime.url == nil)
        let hosts = try #require(runtime.hosts)
        #expect(hosts.map(\.url) == ["http://10.0.0.2:11434", "http://10.0.0.9:11434", "http://10.0.0.3:11434"])
        #expect(hosts.map(\.budget.bytes) == [24_000_000_000, 16 * 1_073_741_824, 8_000_000_000])
        #expect(hosts.map(\.labels) == [["gpu", "large"], ["gpu"], []])
    }

    @Test func aRuntimeWithAURLIsNoPool() throws {
        let document = Self.decode("version: 1\nruntimes:\n  local: {kind: ollama, url: \"http://127.0.0.1:11434\"}\n")
        #expect(document.diagnostics.isEmpty)
        #expect(document.spec?.runtime(named: "local")?.isPool == false)
    }

    @Test(arguments: [
        // (the host line, the code, the line, a phrase of the message)
        ("{url: \"http://a:1\", budget: 8GB, gpu: true}", "unknown-key", 6, "unknown key 'gpu' in a host of runtime 'pool'"),
        ("{url: \"not a url\", budget: 8GB}", "pool-url", 6, "'not a url' is not a URL for a host of runtime 'pool'"),
        ("{url: \"ftp://a:1\", budget: 8GB}", "pool-url", 6, "write the server's base URL"),
        ("{url: \"http://a:1\", budget: lots}", "invalid-size", 6, "'lots' is not a size"),
        ("{url: \"http://a:1\", budget: auto}", "invalid-size", 6, "it measures this machine, not the host"),
        ("{url: \"http://a:1\"}", "missing-key", 6, "host 'http://a:1' of runtime 'pool' has no 'budget'"),
        ("{budget: 8GB}", "missing-key", 6, "a host of runtime 'pool' has no 'url'"),
    ])
    func eachMistakeInAHostIsNamedWhereItIs(_ host: String, _ code: String, _ line: Int, _ phrase: String) throws {
        let document = Self.decode(
            """
            version: 1
            runtimes:
              pool:
                kind: ollama
                hosts:
                  - \(host)
            """)
        let diagnostic = try #require(document.diagnostics.first, "no diagnostic for \(host)")
        #expect(document.diagnostics.count == 1, "\(document.diagnostics)")
        #expect(diagnostic.code.rawValue == code)
        #expect(diagnostic.location?.line == line)
        #expect(diagnostic.message.contains(phrase), "\(diagnostic.message)")
        #expect(diagnostic.severity == .error)
    }

    @Test func aHostListedTwiceIsAnError() throws {
        let document = Self.decode(
            """
            version: 1
            runtimes:
              pool:
                kind: llama-server
                hosts:
                  - {url: "http://a:8080", budget: 8GB}
                  - {url: "http://A:8080/", budget: 4GB}
            """)
        let diagnostic = try #require(document.diagnostics.first)
        #expect(diagnostic.code.rawValue == "pool-duplicate-host")
        #expect(diagnostic.location?.line == 7)
        #expect(document.spec?.runtime(named: "pool")?.hosts?.map(\.url) == ["http://a:8080"])
    }

    @Test(arguments: ["openai", "anthropic", "echo"]) func hostsOnACloudOrEchoRuntimeAreAnError(_ kind: String) throws {
        let document = Self.decode(
            """
            version: 1
            runtimes:
              pool:
                kind: \(kind)
                url: "http://a:1"
                hosts:
                  - {url: "http://a:1", budget: 8GB}
            """)
        let diagnostic = try #require(document.diagnostics.first)
        #expect(diagnostic.code.rawValue == "pool-kind")
        #expect(diagnostic.location?.line == 7)
        #expect(diagnostic.message.contains("runtime 'pool' of kind '\(kind)' cannot have 'hosts'"))
    }

    @Test func anEmptyOrMistypedHostListIsAnError() throws {
        let empty = Self.decode("version: 1\nruntimes:\n  pool:\n    kind: ollama\n    hosts: []\n")
        #expect(empty.diagnostics.map(\.code.rawValue) == ["pool-empty"])
        let mapping = Self.decode("version: 1\nruntimes:\n  pool:\n    kind: ollama\n    hosts: {url: \"http://a:1\"}\n")
        #expect(mapping.diagnostics.map(\.code.rawValue) == ["type-mismatch"])
        #expect(mapping.diagnostics.first?.location?.line == 5)
    }

    @Test func aPoolNeedsNoURL() {
        let document = Self.decode(
            "version: 1\nruntimes:\n  pool:\n    kind: ollama\n    hosts:\n      - {url: \"http://a:1\", budget: 1GB}\n")
        #expect(!document.diagnostics.contains { $0.code.rawValue == "missing-key" })
    }
}
