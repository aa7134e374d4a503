import BatonSpec

/// What every page needs to know about the server.
public struct PageContext: Sendable {
    /// Whether `baton serve` was started with `--allow-actions` (the pages then show resume, rerun and interrupt).
    public var actionsAllowed: Bool

    /// Creates a context.
    public init(actionsAllowed: Bool) {
        self.actionsAllowed = actionsAllowed
    }
}

/// The dashboard's HTML pages: server-rendered skeletons holding the DOM hooks (docs/serve.md, "Pages") that
/// `DashboardAssets.script` fills from the JSON API and the event streams.
///
/// The Content-Security-Policy forbids inline scripts and styles, so the pages carry no `<script>` body, no `style=`
/// and no `on…=` handler: data reaches the script through `data-*` attributes, and every value is escaped by
/// ``html(_:)``.
public enum DashboardPages {
    /// The runs list (`GET /`).
    public static func runsPage(_ context: PageContext) -> String {
        let main = """
            <main class="runs">
            <div class="toolbar">
            <h1>Runs</h1>
            <label>Status <select id="filter-status">
            <option value="">any</option>
            <option value="running">running</option>
            <option value="completed">completed</option>
            <option value="failed">failed</option>
            <option value="interrupted">interrupted</option>
            </select></label>
            <label>Pipeline <input id="filter-pipeline" type="search" placeholder="name" autocomplete="off"></label>
            <span class="live-note" id="stream-state"></span>
            </div>
            <table id="runs">
            <thead><tr><th>Run</th><th>Pipeline</th><th>Status</th><th>Profile</th><th>Started</th><th>Duration</th>\
            <th>Tokens</th><th>Stage</th></tr></thead>
            <tbody></tbody>
            </table>
            <p class="empty" id="runs-empty" hidden>No runs match.</p>
            </main>
            """
        return page(title: "Runs", body: ["page": "runs"], main: main, context: context)
    }

    /// A run's page (`GET /runs/{id}`): the header, the stage graph drawn from `plan`, and the empty timeline, memory
    /// lane and attempt panel the script fills.
    public static func runPage(runID: String, plan: ExecutionPlan, context: PageContext) -> String {
        let stages = plan.stages.filter { !$0.isToolDefinition }.map(\.name)
        var main = """
            <main class="run">
            <section class="run-head">
            <h1><span id="run-pipeline">\(html(plan.pipeline))</span> <span class="run-id">\(html(runID))</span>\
             <span id="run-status" class="status" data-status="">loading</span></h1>
            <dl id="run-facts">
            <div><dt>Profile</dt><dd id="run-profile">–</dd></div>
            <div><dt>Started</dt><dd id="run-started">–</dd></div>
            <div><dt>Duration</dt><dd id="run-duration">–</dd></div>
            <div><dt>Tokens</dt><dd id="run-tokens">–</dd></div>
            <div><dt>Host</dt><dd id="run-host">–</dd></div>
            <div><dt>Events</dt><dd><span id="event-count">0</span> · last id <span id="last-event-id">0</span>\
             <span id="stream-state"></span></dd></div>
            </dl>
            <p id="run-error" class="error" hidden></p>
            <details id="run-inputs-box"><summary>Inputs</summary><dl id="run-inputs"></dl></details>
            </section>

            """
        if context.actionsAllowed { main += actions(runID: runID, stages: stages) }
        main += """
            <div class="run-grid">
            <div class="run-main">
            <section class="panel"><h2>Stages</h2><div class="graph-scroll">\(StageGraph.svg(plan))</div></section>
            <section class="panel"><h2>Timeline<span class="legend"><i class="legend-load"></i>load<i class="legend-prompt"></i>prompt\
            <i class="legend-generate"></i>generating<i class="legend-done"></i>generated</span></h2><div id="timeline"></div></section>
            <section class="panel"><h2>Memory</h2><div id="memory-lane"></div></section>
            </div>
            <aside id="attempt-panel" class="panel" hidden>
            <h2 id="attempt-title">Attempt</h2>
            <div id="attempt-meta"></div>
            <h3>Output <span id="output-note" class="note"></span></h3>
            <button type="button" id="output-show-all" hidden>show all</button>
            <pre id="attempt-output" class="text"></pre>
            <h3>Prompt</h3>
            <pre id="attempt-prompt" class="text"></pre>
            <details id="attempt-system-box" hidden><summary>System</summary><pre id="attempt-system" class="text"></pre></details>
            </aside>
            </div>
            </main>
            """
        return page(title: runID, body: ["page": "run", "run-id": runID], main: main, context: context)
    }

    /// The compare page (`GET /compare`): the comparison of runs `a` and `b`, or, without both, a form to pick them.
    public static func comparePage(a: String?, b: String?, context: PageContext) -> String {
        let a = a.flatMap { $0.isEmpty ? nil : $0 }
        let b = b.flatMap { $0.isEmpty ? nil : $0 }
        var body = ["page": "compare"]
        var main = "<main class=\"compare\">\n"
        if let a, let b {
            body["a"] = a
            body["b"] = b
            main += """
                <h1>Compare <a href="/runs/\(html(a))">\(html(a))</a> with <a href="/runs/\(html(b))">\(html(b))</a></h1>
                <p id="compare-summary" class="note"></p>
                <table id="compare">
                <thead><tr><th>Stage</th><th>Status A</th><th>Status B</th><th>Model A</th><th>Model B</th>\
                <th>What changed</th><th>Diffs</th></tr></thead>
                <tbody></tbody>
                </table>

                """
        } else {
            main += "<h1>Compare two runs</h1>\n"
        }
        main += """
            <form id="compare-form" method="get" action="/compare">
            <label>A <select name="a" id="compare-a" data-selected="\(html(a ?? ""))"><option value="">choose a run</option></select></label>
            <label>B <select name="b" id="compare-b" data-selected="\(html(b ?? ""))"><option value="">choose a run</option></select></label>
            <button type="submit">Compare</button>
            </form>
            </main>
            """
        return page(title: "Compare", body: body, main: main, context: context)
    }

    /// The page for a run or route that does not exist (`message` names it), linking back to the runs list.
    public static func notFoundPage(_ message: String, context: PageContext) -> String {
        let main = """
            <main class="not-found">
            <h1>Not found</h1>
            <p>\(html(message))</p>
            <p><a href="/">All runs</a></p>
            </main>
            """
        return page(title: "Not found", body: ["page": "not-found"], main: main, context: context)
    }

    /// `text` escaped for HTML text and double- or single-quoted attribute values.
    public static func html(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// The action buttons of a run page, each with the command it runs; the script fills the run's own values.
    private static func actions(runID: String, stages: [String]) -> String {
        let id = html(runID)
        let options = stages.map { "<option value=\"\(html($0))\">\(html($0))</option>" }.joined()
        return """
            <section id="actions" class="panel actions">
            <div class="action"><button type="button" data-action="resume">Resume</button>\
             <code class="equivalent-command">baton resume \(id)</code></div>
            <div class="action"><button type="button" data-action="rerun">Rerun from</button>\
             <select id="rerun-stage">\(options)</select>\
             <code class="equivalent-command">baton rerun \(id) --from \(html(stages.first ?? "STAGE"))</code></div>
            <div class="action"><button type="button" data-action="interrupt">Interrupt</button>\
             <code class="equivalent-command">kill -INT PID</code></div>
            <p id="action-result" class="note" hidden></p>
            </section>

            """
    }

    /// A whole page: the head (the stylesheet and the script, both served by `baton serve`), the header with its
    /// navigation, and `main`. `body` becomes `data-*` attributes of `<body>`.
    private static func page(title: String, body: [String: String], main: String, context: PageContext) -> String {
        var attributes = body
        attributes["actions"] = context.actionsAllowed ? "allowed" : "off"
        let data = attributes.keys.sorted().map { " data-\($0)=\"\(html(attributes[$0] ?? ""))\"" }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="no-referrer">
            <title>\(html(title)) · Baton</title>
            <link rel="icon" href="data:,">
            <link rel="stylesheet" href="/assets/dashboard.css">
            <script src="/assets/dashboard.js" defer></script>
            </head>
            <body\(data)>
            <header class="top"><a class="brand" href="/">Baton</a><nav><a href="/">Runs</a><a href="/compare">Compare</a></nav></header>
            \(main)
            </body>
            </html>

            """
    }
}
