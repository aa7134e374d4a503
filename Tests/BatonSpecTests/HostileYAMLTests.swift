import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Hostile YAML (aliases that expand a small file into billions of nodes, deep nesting, huge files) is refused
/// by ``YAMLLimits`` before Yams composes it, at the alias or node that crossed the limit; real files pass.
@Suite struct HostileYAMLTests {
    /// A "billion laughs": nine levels of nine aliases of the level above, 9^9 scalars once expanded.
    static let laughs = """
        version: 1
        a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [1️⃣*d, *d, *d, *d, *d, *d, *d, *d, *d]
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
        g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
        h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
        i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
        stages:
          x: {prompt: hi}
        """

    @Test("A billion laughs in a pipeline is refused at the alias that takes the aliased nodes past 10,000")
    func billionLaughsInAPipeline() {
        // a is 10 nodes, b adds 90 through aliases (91 nodes), c adds 819 (820), d adds 7,380: 8,289 so far;
        // the first *d of e adds 7,381 more and crosses 10,000.
        assertDiagnostics(
            Self.laughs,
            [
                DiagnosticSpec(
                    "1️⃣", code: "yaml-limit",
                    message: "alias '*d' takes the nodes that aliases repeat past 10000; a file that expands this far is refused "
                        + "as hostile ('billion laughs'), so write the values out or use fewer aliases")
            ])
    }

    @Test("A billion laughs in a profile is refused at the alias, like in a pipeline")
    func billionLaughsInAProfile() throws {
        // Given
        let input = MarkedText(Self.laughs.replacingOccurrences(of: "stages:\n  x: {prompt: hi}", with: ""))

        // When
        let document = ProfileDecoder.decode(SourceFile(path: "bomb.yaml", text: input.text), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }

        // Then
        #expect(profile == nil)
        let limit = try #require(diagnostics.first { $0.code == "yaml-limit" }, "\(diagnostics)")
        let marker = try #require(input.positions["1️⃣"])
        #expect(limit.location == SourceLocation(file: "bomb.yaml", line: marker.line, column: marker.column))
    }

    @Test("Aliases used as mapping keys are refused before Yams hashes the expanded keys")
    func aliasesAsKeys() {
        // Yams checks mapping keys for duplicates by hashing them: a key that is an alias of a huge node
        // would be hashed node by node, so the limit has to hold before Yams composes.
        // a is 11 nodes, b adds 110 (121), c adds 1,210 (1,221): 1,320 so far; the eighth *c of d crosses 10,000.
        assertDiagnostics(
            """
            version: 1
            a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
            b: &b {1: *a, 2: *a, 3: *a, 4: *a, 5: *a, 6: *a, 7: *a, 8: *a, 9: *a, 10: *a}
            c: &c {1: *b, 2: *b, 3: *b, 4: *b, 5: *b, 6: *b, 7: *b, 8: *b, 9: *b, 10: *b}
            d: &d {1: *c, 2: *c, 3: *c, 4: *c, 5: *c, 6: *c, 7: *c, 8: 1️⃣*c, 9: *c, 10: *c}
            e: {*d: 1, *c: 2}
            """,
            [DiagnosticSpec("1️⃣", code: "yaml-limit")])
    }

    @Test("An anchored node costs its size with its own aliases expanded, and the limit holds at exactly its value")
    func aliasCostIsTheExpandedSize() throws {
        // Given: c is 1 + 3 (one alias of a) = 4 nodes, so *a, *a, *c adds 3 + 3 + 4 = 10 nodes
        let limits = YAMLLimits(maxBytes: 1000, maxNodes: 1000, maxAliasedNodes: 10, maxDepth: 8)
        let within = "a: &a [x, y]\nc: &c [*a]\nd: [*a, *c]\n"
        let input = MarkedText("a: &a [x, y]\nc: &c [*a]\nd: [*a, *c, 1️⃣*a]\n")

        // When
        let passed = limits.check(within)
        let crossed = limits.check(input.text)

        // Then
        #expect(passed == nil, "\(String(describing: passed))")
        let marker = try #require(input.positions["1️⃣"])
        #expect(crossed == YAMLLimitViolation(kind: .aliasedNodes(anchor: "a"), limit: 10, line: marker.line, column: marker.column))
    }

    @Test("A flat file with more nodes than the limit is refused at the first node past it")
    func tooManyNodes() throws {
        // Given: a list of 100,000 scalars is 100,001 nodes with the list itself
        let text = "[" + Array(repeating: "x", count: 100_000).joined(separator: ",") + "]"

        // When
        let violation = try #require(YAMLLimits.standard.check(text))

        // Then: the last scalar, at column 2 + 2 × 99,999
        #expect(violation == YAMLLimitViolation(kind: .nodes, limit: 100_000, line: 1, column: 200_000))
        #expect(YAMLLimits.standard.check(String(text.dropLast(3)) + "]") == nil, "100,000 nodes are within the limit")
    }

    @Test("A nesting bomb is refused at the first sequence or mapping one level too deep")
    func deepNesting() throws {
        // Given: block mappings nested 70 deep, one more level per line
        let lines = (0..<70).map { String(repeating: "  ", count: $0) + "k\($0):" } + [String(repeating: "  ", count: 70) + "x"]
        let text = lines.joined(separator: "\n")

        // When
        let violation = try #require(YAMLLimits.standard.check(text))

        // Then: the root mapping is level 1, so level 65 is the mapping that starts with k64
        #expect(violation == YAMLLimitViolation(kind: .depth, limit: 64, line: 65, column: 129))
    }

    @Test("A pipeline nested too deep in flow style is refused at the first sequence 65 levels down")
    func deepNestingInAPipeline() {
        assertDiagnostics(
            "version: 1\nstages: " + String(repeating: "[", count: 63) + "1️⃣[x" + String(repeating: "]", count: 64) + "\n",
            [
                DiagnosticSpec(
                    "1️⃣", code: "yaml-limit",
                    message: "sequences and mappings nested more than 64 deep; Baton reads at most that depth, so flatten them")
            ])
    }

    @Test("A file over the size limit is refused by its byte count, before any parsing")
    func tooManyBytes() {
        let limits = YAMLLimits(maxBytes: 10, maxNodes: 1000, maxAliasedNodes: 10, maxDepth: 8)
        #expect(limits.check("a: 1234567") == nil, "10 bytes are within the limit")
        #expect(limits.check("a: 12345678") == YAMLLimitViolation(kind: .bytes(found: 11), limit: 10, line: 1, column: 1))
        #expect(YAMLLimits.standard.check(byteCount: 2 * 1024 * 1024) == nil)
        let violation = YAMLLimits.standard.check(byteCount: 12 * 1024 * 1024 + 300_000)
        #expect(violation?.description == "the file is 12.3 MB, over the 2 MB Baton reads from one YAML file; make it smaller")
        #expect(violation?.message(file: "big.yaml").hasPrefix("big.yaml: the file is 12.3 MB") == true)
        let justOver = YAMLLimits.standard.check(byteCount: 2 * 1024 * 1024 + 1)
        #expect(justOver?.description.hasPrefix("the file is 2097153 bytes, over the 2 MB") == true)
    }

    @Test("A syntax error before any limit is still reported as a syntax error")
    func syntaxErrorComesFirst() {
        assertDiagnostics(
            "version: 1\nstages: 1️⃣]\n"
                + Self.laughs.replacingOccurrences(of: "1️⃣", with: "").replacingOccurrences(of: "version: 1\n", with: ""),
            [DiagnosticSpec("1️⃣", code: "yaml-syntax")])
    }

    @Test("Anchors and aliases that a real pipeline uses for shared settings still compile")
    func sharedSettingsThroughAliasesCompile() throws {
        let plan = compileValid(
            """
            version: 1
            defaults: {model: m}
            stages:
              draft:
                prompt: Write a haiku
                retry: &patient {max_attempts: 5, initial_backoff: 2s}
              polish:
                prompt: "Polish: {{stages.draft.output}}"
                retry: *patient
            """)
        #expect(try #require(plan).stages.count == 2)
    }

    @Test("Every shipped pipeline and profile and every test fixture stays within limits far lower than Baton's")
    func realFilesAreFarBelowTheLimits() throws {
        // Given: a hundredth of the size and node limits, a quarter of the depth, and no aliases at all
        let strict = YAMLLimits(maxBytes: 100 * 1024, maxNodes: 1000, maxAliasedNodes: 0, maxDepth: 16)
        let folders = [
            "pipelines", "profiles", "Tests/BatonSpecTests/Fixtures/invalid", "Tests/BatonSpecTests/Fixtures/invalid-profiles",
            "Tests/BatonSpecTests/Fixtures/profiles", "Tests/BatonCommandsTests/Fixtures",
        ]
        // The invalid fixtures named yaml-limit-* are the hostile files themselves.
        let files = folders.flatMap { Fixtures.yamlFiles($0) }.filter { !$0.contains("/yaml-limit-") }
        #expect(files.count > 80)

        for path in files {
            // When
            let text = try String(contentsOfFile: Fixtures.path(path), encoding: .utf8)

            // Then
            let violation = strict.check(text)
            #expect(violation == nil, "\(path): \(violation.map { $0.message(file: path) } ?? "")")
        }
    }
}
