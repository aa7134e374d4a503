import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Sub-pipelines (`uses:`/`with:`) compiled (calls.md): called stages inlined as `X/S` with every name field prefixed,
/// their frames, root and caller dependencies, outputs and route cases, and each diagnostic located in its file.
@Suite struct CallCompileTests {
    /// Files by path; a name resolves to `pipelines/NAME.yaml`, a path ending in .yaml/.yml relative to the caller's
    /// folder (as Workspace.readCalledPipeline does).
    struct Files {
        var files: [String: String]

        func compiler(maxPlanStages: Int = YAMLLimits.maxPlanStages) -> PipelineCompiler {
            let files = files
            var compiler = PipelineCompiler(
                profile: nil,
                resolvePipeline: { reference, caller throws(SourceReadError) in
                    let path: String
                    if reference.hasSuffix(".yaml") || reference.hasSuffix(".yml") {
                        let folder = caller.split(separator: "/").dropLast().joined(separator: "/")
                        var parts = (folder.isEmpty ? [] : folder.split(separator: "/").map(String.init))
                        for part in reference.split(separator: "/").map(String.init) {
                            if part == ".." { _ = parts.popLast() } else if part != "." { parts.append(part) }
                        }
                        path = parts.joined(separator: "/")
                    } else {
                        path = "pipelines/\(reference).yaml"
                    }
                    guard let text = files[path] else { throw .notFound }
                    return SourceFile(path: path, text: text)
                },
                pipelineNames: {
                    files.keys.filter { $0.hasPrefix("pipelines/") }.map { String($0.dropFirst(10).dropLast(5)) }.sorted()
                })
            compiler.maxPlanStages = maxPlanStages
            return compiler
        }

        func compile(_ path: String, maxPlanStages: Int = YAMLLimits.maxPlanStages) -> CompileResult {
            compiler(maxPlanStages: maxPlanStages).compile(SourceFile(path: path, text: files[path]!))
        }
    }

    /// A pipeline reviewing a text: one JSON stage and a critic, a required input and one with a default.
    static let review = """
        version: 1
        name: review
        inputs:
          text: {}
          tone: {default: plain}
        stages:
          draft:
            model: m
            prompt: "Review {{inputs.text}} in a {{inputs.tone}} tone"
            output:
              format: json
              schema: {type: object, required: [score], properties: {score: {type: integer}, notes: {type: string}}}
          check:
            model: m
            reviews: draft
            prompt: "Check {{stages.draft.output}}"
          summary:
            model: m
            prompt: "Sum up {{stages.draft.output}}"
        outputs: [draft, summary]
        """

    static let caller = """
        version: 1
        name: main
        inputs:
          doc: {}
        stages:
          split: {model: m, prompt: "Split {{inputs.doc}}"}
          first:
            uses: review
            with:
              text: "{{stages.split.output}}"
          second:
            uses: review
            needs: [first]
            with: {text: "{{inputs.doc}}", tone: 3}
          report:
            model: m
            prompt: "{{stages.first.output}} {{stages.second.outputs.summary}} {{stages.first.json.score}}"
        """

    static let files = Files(files: ["main.yaml": caller, "pipelines/review.yaml": review])

    func plan(_ files: Files, _ path: String = "main.yaml") throws -> ExecutionPlan {
        let result = files.compile(path)
        for diagnostic in result.diagnostics {
            Issue.record("unexpected: \(diagnostic.location.map(\.description) ?? "-") [\(diagnostic.code)] \(diagnostic.message)")
        }
        return try #require(result.plan)
    }

    @Test func aCalledPipelineUsedTwiceIsInlinedTwiceWithEveryNameFieldPrefixed() throws {
        let plan = try plan(Self.files)

        #expect(
            plan.stages.map(\.name) == [
                "split", "first/draft", "first/check", "first/summary", "second/draft", "second/check", "second/summary", "report",
            ])
        let draft = try #require(plan.stage(named: "first/draft"))
        #expect(draft.reviewedBy == "first/check")
        // Templates stay as written: the called pipeline's scope.
        #expect(draft.prompt == "Review {{inputs.text}} in a {{inputs.tone}} tone")
        #expect(plan.stage(named: "second/check")?.critic?.reviews == "second/draft")
        #expect(plan.stage(named: "first/summary")?.dependencies == ["first/draft", "first/check"])
        #expect(plan.stage(named: "split")?.calls == nil)
        #expect(plan.stage(named: "report")?.calls == nil)
    }

    @Test func theFrameHoldsTheCallsWithDependenciesAndOutputs() throws {
        let plan = try plan(Self.files)

        let first = try #require(plan.stage(named: "first/draft")?.calls?.first)
        #expect(first.path == "first")
        #expect(first.pipeline == "review")
        #expect(first.inputs.map(\.name) == ["text", "tone"])
        #expect(first.with == ["text": "{{stages.split.output}}"])
        #expect(first.dependencies == ["split"])
        #expect(first.outputs == ["first/draft", "first/summary"])
        #expect(first.condition == nil && first.routedBy == nil)
        // A number is taken as its text.
        let second = try #require(plan.stage(named: "second/summary")?.calls)
        #expect(second.count == 1)
        #expect(second[0].with == ["text": "{{inputs.doc}}", "tone": "3"])
        // needs: [first] waits for every stage of the call.
        #expect(second[0].dependencies == ["first/draft", "first/check", "first/summary"])
    }

    @Test func rootStagesOfACallDependOnTheFrameAndCallerStagesOnEveryCalledStage() throws {
        let plan = try plan(Self.files)

        // draft depends on nothing inside review: it takes the call's dependencies.
        #expect(plan.stage(named: "first/draft")?.dependencies == ["split"])
        #expect(plan.stage(named: "second/draft")?.dependencies == ["first/draft", "first/check", "first/summary"])
        // check depends on draft inside review: no frame dependencies added.
        #expect(plan.stage(named: "first/check")?.dependencies == ["first/draft"])
        #expect(
            plan.stage(named: "report")?.dependencies == [
                "first/draft", "first/check", "first/summary", "second/draft", "second/check", "second/summary",
            ])
        // report is the default output; the calls are read by it, so they are not outputs.
        #expect(plan.outputs == ["report"])
    }

    @Test func aCallAsAnOutputListsItsOutputStages() throws {
        let main = """
            version: 1
            stages:
              r: {uses: review, with: {text: hello}}
            """
        let plan = try plan(Files(files: ["main.yaml": main, "pipelines/review.yaml": Self.review]))
        #expect(plan.outputs == ["r/draft", "r/summary"])
        #expect(plan.stage(named: "r/draft")?.calls?.first?.dependencies == [])
        #expect(plan.stage(named: "r/draft")?.dependencies == [])
    }

    @Test func nestingTwoDeepPrefixesEachLevelAndListsFramesOutermostFirst() throws {
        let outer = """
            version: 1
            name: outer
            inputs:
              body: {}
            stages:
              prep: {model: m, prompt: "Prep {{inputs.body}}"}
              inner:
                uses: ./review.yaml
                with: {text: "{{stages.prep.output}}"}
              wrap: {model: m, prompt: "{{stages.inner.output}}"}
            """
        let main = """
            version: 1
            stages:
              start: {model: m, prompt: Start}
              o:
                uses: outer
                with: {body: "{{stages.start.output}}"}
                when: stages.start.output != ''
            """
        let plan = try plan(Files(files: ["main.yaml": main, "pipelines/outer.yaml": outer, "pipelines/review.yaml": Self.review]))

        #expect(
            plan.stages.map(\.name) == ["start", "o/prep", "o/inner/draft", "o/inner/check", "o/inner/summary", "o/wrap"])
        let frames = try #require(plan.stage(named: "o/inner/draft")?.calls)
        #expect(frames.map(\.path) == ["o", "o/inner"])
        #expect(frames.map(\.pipeline) == ["outer", "review"])
        #expect(frames[0].condition?.text == "stages.start.output != ''")
        #expect(frames[0].dependencies == ["start"])
        #expect(frames[1].dependencies == ["o/prep"])
        #expect(frames[1].outputs == ["o/inner/draft", "o/inner/summary"])
        #expect(plan.stage(named: "o/inner/draft")?.dependencies == ["o/prep"])
        #expect(plan.stage(named: "o/inner/check")?.reviewedBy == nil)
        #expect(plan.stage(named: "o/inner/check")?.critic?.reviews == "o/inner/draft")
        #expect(plan.stage(named: "o/prep")?.dependencies == ["start"])
        #expect(plan.stage(named: "o/prep")?.calls?.map(\.path) == ["o"])
        #expect(plan.stage(named: "o/wrap")?.dependencies == ["o/inner/draft", "o/inner/check", "o/inner/summary"])
        #expect(plan.outputs == ["o/wrap"])
    }

    @Test func aRouteCaseNamingACallListsEveryCalledStageAndTheFrameCarriesTheChoice() throws {
        let routed = """
            version: 1
            name: routed
            stages:
              pick:
                model: m
                prompt: Pick
                output: {format: json, schema: {type: object, required: [k], properties: {k: {enum: [a, b]}}}}
                route: {on: k, cases: {a: left, b: right}}
              left: {model: m, prompt: Left}
              right: {model: m, prompt: Right}
              join: {model: m, prompt: "{{stages.left.output}}{{stages.right.output}}"}
            """
        let main = """
            version: 1
            stages:
              classify:
                model: m
                prompt: Classify
                output: {format: json, schema: {type: object, required: [c], properties: {c: {enum: [x, y]}}}}
                route: {on: c, cases: {x: [call, plain], y: plain}}
              call: {uses: routed}
              plain: {model: m, prompt: Plain}
              end: {model: m, prompt: "{{stages.call.output}}{{stages.plain.output}}{{#stages.call.skipped}}-{{/stages.call.skipped}}"}
            """
        let plan = try plan(Files(files: ["main.yaml": main, "pipelines/routed.yaml": routed]))

        let route = try #require(plan.stage(named: "classify")?.route)
        #expect(route.cases[0].stages == ["call/pick", "call/left", "call/right", "call/join", "plain"])
        #expect(route.cases[1].stages == ["plain"])
        let left = try #require(plan.stage(named: "call/left"))
        // Its own routedBy is the called pipeline's; the call's is in its frame.
        #expect(left.routedBy == RouteChoice(router: "call/pick", branches: ["a"]))
        #expect(left.calls?.first?.routedBy == RouteChoice(router: "classify", branches: ["x"]))
        #expect(plan.stage(named: "call/pick")?.route?.cases.map(\.stages) == [["call/left"], ["call/right"]])
        #expect(plan.stage(named: "call/pick")?.dependencies == ["classify"])
        #expect(plan.stage(named: "call/pick")?.calls?.first?.dependencies == ["classify"])
    }

    @Test func withoutUsesCallsIsNilAndThePlanEncodesAsBefore() throws {
        let text = """
            version: 1
            stages:
              a: {model: m, prompt: A}
              b: {model: m, prompt: "{{stages.a.output}}"}
            """
        let plan = try plan(Files(files: ["main.yaml": text]))
        #expect(plan.stages.allSatisfy { $0.calls == nil })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(plan), as: UTF8.self)
        #expect(!json.contains("calls"))
        // A plan pinned before sub-pipelines (no key) still reads, and encodes to the same bytes.
        let decoded = try JSONDecoder().decode(ExecutionPlan.self, from: Data(json.utf8))
        #expect(decoded.stages.allSatisfy { $0.calls == nil })
        #expect(String(decoding: try encoder.encode(decoded), as: UTF8.self) == json)
    }

    @Test func framesRoundTripThroughJSON() throws {
        let plan = try plan(Self.files)
        let data = try JSONEncoder().encode(plan)
        let decoded = try JSONDecoder().decode(ExecutionPlan.self, from: data)
        // modelChoice explains the compile and is not encoded; the rest, frames included, comes back.
        #expect(decoded.stages.map(\.calls) == plan.stages.map(\.calls))
        #expect(decoded.stages.map(\.name) == plan.stages.map(\.name))
        #expect(decoded.stages.map(\.dependencies) == plan.stages.map(\.dependencies))
    }

    @Test func theCalledFilesJoinTheSourcesAndCalledFiles() {
        let result = Self.files.compile("main.yaml")
        #expect(Set(result.sources.keys) == ["main.yaml", "pipelines/review.yaml"])
        #expect(result.calledFiles == ["pipelines/review.yaml"])
    }

    // MARK: - Diagnostics

    /// Compiles `main` (marked) beside `others` and expects exactly `expected` in main.yaml, each at its marker, and
    /// `elsewhere` (file, line, column, code) in the other files.
    func expect(
        _ marked: String, others: [String: String] = [:], _ expected: [DiagnosticSpec],
        elsewhere: [(String, Int, Int, String)] = [], sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        let input = MarkedText(marked)
        var files = others
        files["main.yaml"] = input.text
        let result = Files(files: files).compile("main.yaml")
        var remaining = result.diagnostics
        for spec in expected {
            let position = input.positions[spec.marker]!
            if let index = remaining.firstIndex(where: {
                $0.code.rawValue == spec.code && $0.severity == spec.severity && $0.location?.file == "main.yaml"
                    && $0.location?.line == position.line && $0.location?.column == position.column
                    && (spec.message == nil || $0.message == spec.message)
            }) {
                remaining.remove(at: index)
            } else {
                Issue.record("expected \(spec) at \(position.line):\(position.column)", sourceLocation: sourceLocation)
            }
        }
        for (file, line, column, code) in elsewhere {
            if let index = remaining.firstIndex(where: {
                $0.code.rawValue == code && $0.location == SourceLocation(file: file, line: line, column: column)
            }) {
                remaining.remove(at: index)
            } else {
                Issue.record("expected [\(code)] at \(file):\(line):\(column)", sourceLocation: sourceLocation)
            }
        }
        for diagnostic in remaining {
            Issue.record(
                "unexpected: \(diagnostic.location.map(\.description) ?? "-") [\(diagnostic.code)] \(diagnostic.message)",
                sourceLocation: sourceLocation)
        }
    }

    static let reviewFiles = ["pipelines/review.yaml": review]

    @Test func everyKeyButUsesWithNeedsWhenAndDescriptionConflicts() {
        expect(
            """
            version: 1
            stages:
              a: {model: m, prompt: A}
              r:
                uses: review
                with: {text: "{{stages.a.output}}"}
                1️⃣prompt: Hello
                2️⃣model: m
                3️⃣temperature: 0.2
                4️⃣output: json
                5️⃣for_each: inputs.x
                6️⃣max_items: 3
                description: fine
              c: {model: m, reviews: 7️⃣r, prompt: "{{stages.r.output}}"}
            """, others: Self.reviewFiles,
            [
                DiagnosticSpec(
                    "1️⃣", code: "uses-conflict",
                    message: "stage 'r' calls pipeline 'review' ('uses'), so it cannot set 'prompt'; the called pipeline's own "
                        + "stages carry their prompts and settings: remove 'prompt' here (a 'uses' stage takes 'with', 'needs', "
                        + "'when' and 'description')"),
                DiagnosticSpec("2️⃣", code: "uses-conflict"), DiagnosticSpec("3️⃣", code: "uses-conflict"),
                DiagnosticSpec("4️⃣", code: "uses-conflict"), DiagnosticSpec("5️⃣", code: "uses-conflict"),
                DiagnosticSpec("6️⃣", code: "uses-conflict"), DiagnosticSpec("7️⃣", code: "uses-conflict"),
            ])
    }

    @Test func aMisspeltPipelineNameGetsADidYouMean() {
        expect(
            """
            version: 1
            stages:
              r: {uses: 1️⃣reveiw, with: {text: x}}
              s: {uses: 2️⃣nothing/here.yaml}
            """, others: Self.reviewFiles,
            [
                DiagnosticSpec(
                    "1️⃣", code: "uses-not-found",
                    message: "pipeline 'reveiw' ('uses') was not found on the pipeline search path; did you mean 'review'?"),
                DiagnosticSpec(
                    "2️⃣", code: "uses-not-found",
                    message: "pipeline file 'nothing/here.yaml' ('uses') was not found; the path is relative to this pipeline "
                        + "file's folder"),
            ])
    }

    @Test func misspeltUsesAndWithKeysGetADidYouMean() {
        expect(
            """
            version: 1
            stages:
              3️⃣r:
                1️⃣use: review
                2️⃣wiht: {text: x}
            """, others: Self.reviewFiles,
            [
                // Without its 'uses', r reads as a model stage (its missing prompt is not reported: 'uses' was suggested).
                DiagnosticSpec("3️⃣", code: "missing-model"),
                DiagnosticSpec("1️⃣", code: "unknown-key", message: "unknown key 'use' in stage 'r'; did you mean 'uses'?"),
                DiagnosticSpec("2️⃣", code: "unknown-key", message: "unknown key 'wiht' in stage 'r'; did you mean 'with'?"),
            ])
    }

    @Test func withValuesMustBeScalars() {
        expect(
            """
            version: 1
            stages:
              r:
                uses: review
                with:
                  text: 1️⃣[a, b]
                  tone: 2️⃣{x: 1}
            """, others: Self.reviewFiles,
            [
                DiagnosticSpec("1️⃣", code: "type-mismatch", message: "expected text for input 'text' in 'with' of stage 'r', found a list"),
                // Given, though not as text: not reported as missing too.
                DiagnosticSpec("2️⃣", code: "type-mismatch"),
            ])
    }

    @Test func withNamesAreCheckedAgainstTheCalledInputs() {
        expect(
            """
            version: 1
            stages:
              r:
                uses: review
                6️⃣with:
                  1️⃣txet: hello
                  2️⃣colour: red
              s:
                uses: review
                3️⃣with: {tone: dry}
              t: {uses: 4️⃣review}
              u: {model: m, prompt: "{{stages.r.output}}{{stages.s.output}}{{stages.t.output}}", 5️⃣with: {a: b}}
            """, others: Self.reviewFiles,
            [
                DiagnosticSpec("1️⃣", code: "with-unknown-input", message: "pipeline 'review' has no input 'txet'; did you mean 'text'?"),
                DiagnosticSpec(
                    "2️⃣", code: "with-unknown-input", message: "pipeline 'review' has no input 'colour'; its inputs are 'text' and 'tone'"),
                DiagnosticSpec("6️⃣", code: "with-missing-input"),
                DiagnosticSpec(
                    "3️⃣", code: "with-missing-input",
                    message: "stage 's' gives no value for input 'text' of pipeline 'review', which is required and has no default; "
                        + "add 'text: ...' under 'with'"),
                DiagnosticSpec("4️⃣", code: "with-missing-input"),
                DiagnosticSpec("5️⃣", code: "missing-key"),
            ])
    }

    @Test func withTemplatesAreCheckedInTheCallersScopeInsideTheValue() {
        expect(
            """
            version: 1
            inputs:
              doc: {}
            stages:
              a: {model: m, prompt: "{{inputs.doc}}"}
              r:
                uses: review
                with:
                  text: "See 1️⃣{{stages.b.output}} and 2️⃣{{inputs.dco}}"
                  tone: "3️⃣{{stages.a.outptu}}"
            """, others: Self.reviewFiles,
            [
                DiagnosticSpec("1️⃣", code: "unknown-stage"), DiagnosticSpec("2️⃣", code: "undeclared-input"),
                DiagnosticSpec("3️⃣", code: "unknown-variable"),
            ])
    }

    @Test func aCallersTemplateReadsOutputJsonOutputsAndSkippedOfACall() {
        expect(
            """
            version: 1
            stages:
              r: {uses: review, with: {text: x}}
              s:
                model: m
                prompt: "{{stages.r.json.score}} 1️⃣{{stages.r.json.scroe}} 2️⃣{{stages.r.outputs.sumary}} 3️⃣{{stages.r.verdict}}"
              t:
                model: m
                when: stages.r.json.score > 3 && stages.r.json.4️⃣scor > 1
                prompt: "{{stages.s.output}} {{stages.r.outputs.summary}} {{#stages.r.skipped}}-{{/stages.r.skipped}}"
            """, others: Self.reviewFiles,
            [
                DiagnosticSpec("1️⃣", code: "unknown-output-field"),
                DiagnosticSpec(
                    "2️⃣", code: "unknown-variable",
                    message: "template uses 'stages.r.outputs.sumary', but pipeline 'review' (called by stage 'r') has no output "
                        + "stage by that name; did you mean 'stages.r.outputs.summary'?"),
                DiagnosticSpec("3️⃣", code: "unknown-variable"),
                DiagnosticSpec("4️⃣", code: "unknown-field"),
            ])
    }

    @Test func aCycleAToBToAIsRefusedAtTheUsesThatClosesIt() {
        let b = """
            version: 1
            name: b
            stages:
              back: {uses: ../main.yaml}
            """
        expect(
            """
            version: 1
            name: main
            stages:
              go: {uses: 1️⃣b}
            """, others: ["pipelines/b.yaml": b],
            [
                DiagnosticSpec(
                    "1️⃣", code: "uses-invalid", message: "pipeline 'b' has 1 error, reported in pipelines/b.yaml; fix it to call it")
            ],
            elsewhere: [("pipelines/b.yaml", 4, 16, "uses-cycle")])
    }

    @Test func aSelfCallIsACycle() {
        let files = Files(files: ["pipelines/me.yaml": "version: 1\nname: me\nstages:\n  again: {uses: me}\n"])
        let result = files.compile("pipelines/me.yaml")
        #expect(result.diagnostics.map(\.code.rawValue) == ["uses-cycle"])
        #expect(result.diagnostics.first?.message.hasPrefix("pipelines call each other in a cycle: me → me;") == true)
        #expect(result.diagnostics.first?.location == SourceLocation(file: "pipelines/me.yaml", line: 4, column: 17))
    }

    @Test func aCycleThroughAPathNamesTheChain() {
        let files = Files(files: [
            "flows/a.yaml": "version: 1\nname: a\nstages:\n  s: {uses: b.yaml}\n",
            "flows/b.yaml": "version: 1\nname: b\nstages:\n  t: {uses: ./a.yaml}\n",
        ])
        let result = files.compile("flows/a.yaml")
        let cycle = result.diagnostics.first { $0.code == "uses-cycle" }
        #expect(cycle?.message.hasPrefix("pipelines call each other in a cycle: a → b → a;") == true)
        #expect(cycle?.location == SourceLocation(file: "flows/b.yaml", line: 4, column: 13))
        #expect(result.diagnostics.map(\.code.rawValue).sorted() == ["uses-cycle", "uses-invalid"])
    }

    @Test func nineLevelsOfCallsAreTooDeep() {
        var files: [String: String] = ["pipelines/p9.yaml": "version: 1\nstages:\n  s: {model: m, prompt: x}\n"]
        for level in 1...8 {
            files["pipelines/p\(level).yaml"] = "version: 1\nstages:\n  s: {uses: p\(level + 1)}\n"
        }
        files["main.yaml"] = "version: 1\nstages:\n  top: {uses: p1}\n"
        let result = Files(files: files).compile("main.yaml")
        #expect(result.diagnostics.map(\.code.rawValue) == ["uses-too-deep"])
        #expect(result.diagnostics.first?.location == SourceLocation(file: "main.yaml", line: 3, column: 15))
        // Eight levels are fine.
        #expect(Files(files: files).compile("pipelines/p1.yaml").plan?.stages.first?.calls?.count == 8)
    }

    @Test func theInlinedPlanIsHeldToTheStageLimit() {
        let files = Files(files: [
            "pipelines/three.yaml":
                "version: 1\nstages:\n  a: {model: m, prompt: a}\n  b: {model: m, prompt: b}\n  c: {model: m, prompt: c}\n",
            "main.yaml": "version: 1\nstages:\n  x: {uses: three}\n  y: {uses: three}\n",
        ])
        #expect(files.compile("main.yaml", maxPlanStages: 6).plan?.stages.count == 6)
        let result = files.compile("main.yaml", maxPlanStages: 5)
        #expect(result.diagnostics.map(\.code.rawValue) == ["uses-stage-limit"])
        #expect(result.diagnostics.first?.location == SourceLocation(file: "main.yaml", line: 4, column: 13))
    }

    @Test func theCalledPipelinesBudgetIsIgnoredWithAWarningInItsFile() throws {
        let files = Files(files: [
            "pipelines/heavy.yaml": "version: 1\nmemory_budget: 8GB\nstages:\n  a: {model: m, prompt: a}\n",
            "main.yaml": "version: 1\nstages:\n  x: {uses: heavy}\n",
        ])
        let result = files.compile("main.yaml")
        #expect(result.diagnostics.map(\.code.rawValue) == ["uses-budget-ignored"])
        #expect(result.diagnostics.first?.severity == .warning)
        #expect(result.diagnostics.first?.location == SourceLocation(file: "pipelines/heavy.yaml", line: 2, column: 1))
        #expect(result.plan?.memoryBudget == nil)
    }

    @Test func aCalledPipelineWithErrorsReportsThemInItsFileOnceAndUsesInvalidAtEachCall() {
        let broken = "version: 1\nname: broken\nstages:\n  a: {model: m, prompt: \"{{inputs.nope}}\"}\n"
        expect(
            """
            version: 1
            stages:
              x: {uses: 1️⃣broken}
              y: {uses: 2️⃣broken}
            """, others: ["pipelines/broken.yaml": broken],
            [DiagnosticSpec("1️⃣", code: "uses-invalid"), DiagnosticSpec("2️⃣", code: "uses-invalid")],
            elsewhere: [("pipelines/broken.yaml", 4, 26, "undeclared-input")])
    }

    // MARK: - The valid fixture

    /// A compiler reading called pipelines from the repository: a name in the invalid corpus's called/ folder, a path
    /// relative to the calling file (repository-relative paths, `..` resolved).
    static func diskCompiler() -> PipelineCompiler {
        var compiler = PipelineCompiler(profile: InvalidFixtureTests.testProfile())
        compiler.resolvePipeline = { reference, caller throws(SourceReadError) in
            let path =
                reference.hasSuffix(".yaml")
                ? InvalidFixtureTests.calledPath(reference, from: caller)
                : "Tests/BatonSpecTests/Fixtures/invalid/called/\(reference).yaml"
            guard let text = try? String(contentsOfFile: Fixtures.path(path), encoding: .utf8) else { throw .notFound }
            return SourceFile(path: path, text: text)
        }
        return compiler
    }

    @Test func theValidFixtureCompilesWithEveryFormOfUsesAndWith() throws {
        // Given the fixture that also seeds the fuzz corpus
        let path = "Tests/BatonSpecTests/Fixtures/valid/sub-pipelines.yaml"
        let text = try String(contentsOfFile: Fixtures.path(path), encoding: .utf8)

        // When
        let result = Self.diskCompiler().compile(SourceFile(path: path, text: text))

        // Then
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map { "\($0.location.map(\.description) ?? "-") \($0.message)" })")
        let plan = try #require(result.plan)
        #expect(
            plan.stages.map(\.name) == [
                "classify", "deep/review", "deep/check", "deep/brief/summary", "quick/summary", "report",
            ])
        // summarize is reached by name and by path: one file, compiled once.
        #expect(
            result.calledFiles == [
                "Tests/BatonSpecTests/Fixtures/invalid/called/summarize.yaml",
                "Tests/BatonSpecTests/Fixtures/valid/called/section-review.yaml",
            ])
        #expect(plan.stage(named: "deep/brief/summary")?.calls?.map(\.path) == ["deep", "deep/brief"])
        #expect(
            plan.stage(named: "deep/brief/summary")?.calls?.last?.with == [
                "text": "{{stages.review.json.notes}}", "style": "{{inputs.tone}}",
            ])
        #expect(plan.stage(named: "deep/brief/summary")?.dependencies == ["deep/review", "deep/check"])
        #expect(plan.stage(named: "classify")?.route?.cases.map(\.stages) == [["deep/review", "deep/check", "deep/brief/summary"], []])
        #expect(plan.stage(named: "quick/summary")?.calls?.first?.condition?.text == "inputs.depth == 'quick'")
        #expect(plan.stage(named: "quick/summary")?.dependencies == ["classify"])
        #expect(plan.outputs == ["report"])
    }
}
