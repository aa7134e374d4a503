import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The dashboard's server-rendered pages: the DOM hooks the script and the browser tests rely on, every value escaped,
/// and nothing the Content-Security-Policy would block (no inline script, no `style=`, no `on…=` handler).
@Suite struct DashboardPagesTests {
    static let hostile = "\"><script>alert(1)</script><img/src=x/onerror=alert(2)>"

    static func plan() throws -> ExecutionPlan {
        try #require(
            compileValid(
                """
                version: 1
                name: review
                stages:
                  draft: {model: m, prompt: Draft}
                  check: {model: m, reviews: draft, prompt: "{{stages.draft.output}}"}
                """))
    }

    static func pages() throws -> [String: String] {
        let off = PageContext(actionsAllowed: false)
        let on = PageContext(actionsAllowed: true)
        return [
            "runs": DashboardPages.runsPage(off),
            "run": DashboardPages.runPage(runID: "20261207-101500-a3f9", plan: try plan(), context: off),
            "run-actions": DashboardPages.runPage(runID: "20261207-101500-a3f9", plan: try plan(), context: on),
            "run-hostile": DashboardPages.runPage(runID: hostile, plan: try plan(), context: on),
            "compare": DashboardPages.comparePage(a: "r1", b: "r2", context: off),
            "compare-form": DashboardPages.comparePage(a: nil, b: nil, context: off),
            "compare-hostile": DashboardPages.comparePage(a: hostile, b: hostile, context: off),
            "not-found": DashboardPages.notFoundPage("no run " + hostile, context: off),
        ]
    }

    @Test func htmlEscapesMarkupQuotesAndAmpersands() {
        #expect(
            DashboardPages.html("<script>alert(\"x\")</script> & 'q'")
                == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;")
        #expect(DashboardPages.html("plain text · ünïcode") == "plain text · ünïcode")
        #expect(DashboardPages.html("&amp;") == "&amp;amp;")
    }

    @Test func pagesHaveNothingTheContentSecurityPolicyBlocks() throws {
        let inlineScript = try Regex(#"<script(?![^>]*\bsrc=)[^>]*>"#)
        let handler = try Regex(#"\son[a-z]+\s*="#)
        for (name, page) in try Self.pages() {
            #expect(page.firstMatch(of: inlineScript) == nil, "\(name) has an inline script")
            #expect(!page.contains(" style="), "\(name) has a style attribute")
            #expect(page.firstMatch(of: handler) == nil, "\(name) has an event handler attribute")
            #expect(!page.contains("<style"), "\(name) has a style element")
            #expect(page.contains("<script src=\"/assets/dashboard.js\" defer></script>"), "\(name) lacks the script")
            #expect(page.contains("<link rel=\"stylesheet\" href=\"/assets/dashboard.css\">"), "\(name) lacks the stylesheet")
            #expect(page.contains("<a href=\"/\">Runs</a><a href=\"/compare\">Compare</a>"), "\(name) lacks the navigation")
        }
    }

    @Test func hostileIDsStayText() throws {
        let pages = try Self.pages()
        for name in ["run-hostile", "compare-hostile", "not-found"] {
            let page = try #require(pages[name])
            #expect(!page.contains("<script>alert"), "\(name)")
            #expect(!page.contains("<img"), "\(name)")
            #expect(page.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "\(name)")
        }
        #expect(pages["run-hostile"]?.contains("data-run-id=\"&quot;&gt;&lt;script&gt;") == true)
    }

    @Test func theRunsListHasItsHooks() throws {
        let page = DashboardPages.runsPage(PageContext(actionsAllowed: false))
        for hook in [
            "<body data-actions=\"off\" data-page=\"runs\">", "<table id=\"runs\">", "<select id=\"filter-status\">",
            "<input id=\"filter-pipeline\"", "<tbody></tbody>",
        ] {
            #expect(page.contains(hook), "missing \(hook)")
        }
    }

    @Test func theRunPageHasItsHooksAndTheGraph() throws {
        let page = DashboardPages.runPage(runID: "r1", plan: try Self.plan(), context: PageContext(actionsAllowed: false))
        for hook in [
            "<body data-actions=\"off\" data-page=\"run\" data-run-id=\"r1\">", "id=\"run-status\" class=\"status\" data-status=\"\"",
            "<svg id=\"graph\"", "data-stage=\"draft\" data-status=\"pending\"", "data-stage=\"check\" data-status=\"pending\"",
            "<span id=\"event-count\">0</span>", "<span id=\"last-event-id\">0</span>", "<div id=\"timeline\"></div>",
            "<div id=\"memory-lane\"></div>", "<aside id=\"attempt-panel\"", "<pre id=\"attempt-prompt\"",
            "<pre id=\"attempt-output\"", "<div id=\"attempt-meta\"></div>",
        ] {
            #expect(page.contains(hook), "missing \(hook)")
        }
        #expect(!page.contains("data-action="))
    }

    @Test func actionsAppearOnlyWhenAllowed() throws {
        let page = DashboardPages.runPage(runID: "r1", plan: try Self.plan(), context: PageContext(actionsAllowed: true))
        #expect(page.contains("data-actions=\"allowed\""))
        for action in ["resume", "rerun", "interrupt"] {
            #expect(page.contains("<button type=\"button\" data-action=\"\(action)\">"), "missing \(action)")
        }
        #expect(page.components(separatedBy: "class=\"equivalent-command\"").count - 1 == 3)
        #expect(page.contains("<code class=\"equivalent-command\">baton resume r1</code>"))
        #expect(page.contains("<option value=\"draft\">draft</option><option value=\"check\">check</option>"))
    }

    @Test func theComparePageHasItsTableOrAForm() {
        let context = PageContext(actionsAllowed: false)
        let both = DashboardPages.comparePage(a: "r1", b: "r2", context: context)
        #expect(both.contains("<body data-a=\"r1\" data-actions=\"off\" data-b=\"r2\" data-page=\"compare\">"))
        #expect(both.contains("<table id=\"compare\">"))
        let form = DashboardPages.comparePage(a: "r1", b: "", context: context)
        #expect(form.contains("<body data-actions=\"off\" data-page=\"compare\">"))
        #expect(!form.contains("<table id=\"compare\">"))
        #expect(form.contains("<select name=\"a\" id=\"compare-a\" data-selected=\"r1\">"))
    }

    @Test func theScriptPutsRunDataInTheDOMOnlyAsText() {
        let script = DashboardAssets.script
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            let uses = script.contains(sink)
            #expect(!uses, "the script uses \(sink)")
        }
        // The hooks the pages do not render are made by the script.
        for hook in [
            "'attempt-bar'", "'seg ' + cls", "'seg-load'", "'seg-prompt'", "'seg-generate'", "'mem-budget'", "'mem-block", "'mem-event'",
        ] {
            let has = script.contains(hook)
            #expect(has, "the script lacks \(hook)")
        }
        #expect(DashboardAssets.style.contains("#graph .stage[data-status=running]"))
    }

    static let hasNode = FileManager.default.isExecutableFile(atPath: "/usr/bin/node")

    /// Runs `harness` under node with the dashboard script loaded as `Baton` (its `document` stubbed); returns stdout.
    static func node(_ harness: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("dashboard.js")
        try (DashboardAssets.script + "\nmodule.exports = Baton;\n").write(to: script, atomically: true, encoding: .utf8)
        let main = folder.appendingPathComponent("main.js")
        try ("globalThis.document = { addEventListener() {} };\nconst Baton = require(\(String(reflecting: script.path)));\n" + harness)
            .write(to: main, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/node")
        process.arguments = [main.path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "node: \(message)")
        return text
    }

    @Test(.enabled(if: hasNode, "needs /usr/bin/node to run the script"))
    func theScriptParses() throws {
        #expect(try Self.node("console.log(typeof Baton.runPage);") == "function\n")
    }

    /// The timeline's axis folds an idle gap over 5 s to one second; shorter ones stay at scale.
    @Test(.enabled(if: hasNode, "needs /usr/bin/node to run the script"))
    func theTimelineFoldsIdleGaps() throws {
        let output = try Self.node(
            """
            const at = (s) => new Date(Date.UTC(2026, 11, 7, 10, 0, 0) + s * 1000).toISOString();
            const t = (s) => Date.parse(at(s));
            const attempt = (id, from, to) => ({ id, stage: 's', status: 'completed', started_at: at(from), finished_at: at(to) });
            const state = { run: { status: 'completed' }, memory: [],
              attempts: new Map([[1, attempt(1, 0, 2)], [2, attempt(2, 4, 6)], [3, attempt(3, 20, 22)]]) };
            const axis = Baton.axis(state);
            console.log(JSON.stringify({ total: axis.total,
              gaps: axis.pieces.filter((p) => p.gap).map((p) => [p.from - t(0), p.to - t(0)]),
              x: [0, 2, 6, 20, 22].map((s) => Math.round(axis.x(t(s)) * 1000) / 1000) }));
            """)
        #expect(output == #"{"total":9000,"gaps":[[6000,20000]],"x":[0,0.222,0.667,0.778,1]}"# + "\n")
    }

    /// The memory lane's residency: from each load (or the run's start for models resident before it) to its unload,
    /// `after_run`'s, or the run's end; each load and unload a marker with its reason.
    @Test(.enabled(if: hasNode, "needs /usr/bin/node to run the script"))
    func theMemoryLaneFollowsLoadsAndUnloads() throws {
        let output = try Self.node(
            """
            const t = (s) => Date.UTC(2026, 11, 7, 10, 0, 0) + s * 1000;
            const state = { run: { status: 'completed' }, attempts: new Map(), memory: [
              { kind: 'models-at-start', at: t(0), payload: { models: ['rt:m0'] } },
              { kind: 'model-loaded', at: t(1), stage: 'a', payload: { model: 'rt:m1', bytes: '1000000000', seconds: '0.500' } },
              { kind: 'model-unloaded', at: t(2), stage: 'b', payload: { model: 'rt:m0', reason: 'room for rt:m2 (stage b)' } },
              { kind: 'model-loaded', at: t(3), stage: 'b', payload: { model: 'rt:m2' } },
              { kind: 'after-run', at: t(5), payload: { policy: 'restore', unloaded: ['rt:m1'] } },
            ] };
            const lane = Baton.residency(state, t(6));
            console.log(JSON.stringify(lane.blocks.map((b) => [b.model, b.from - t(0), b.to - t(0), b.bytes])));
            for (const mark of lane.marks) console.log(mark.kind + ': ' + mark.reason);
            """)
        #expect(
            output.split(separator: "\n") == [
                #"[["rt:m0",0,2000,null],["rt:m1",1000,5000,1000000000],["rt:m2",3000,6000,null]]"#,
                "load: load rt:m1 for stage a, 1.0 GB, 0.500 s",
                "unload: unload rt:m0: room for rt:m2 (stage b)",
                "load: load rt:m2 for stage b",
                "unload: unload rt:m1: after_run: restore",
            ])
    }
}
