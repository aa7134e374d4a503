import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton serve` in a real browser: Debian's Chromium driven by Playwright (scripts/setup-browser.sh), against run
/// databases that real `baton run` processes on the echo runtime wrote (checks D1–D6 of issue 16). The Python drivers
/// in `Fixtures/browser` collect what the page shows; these tests judge it against the database. No check reads a
/// wall-clock time; the figures of D6 are printed.
@Suite(
    .serialized,
    .enabled(
        if: DashboardBrowser.python != nil,
        "BATON_BROWSER_PYTHON is unset: scripts/setup-browser.sh prints the Playwright python (scripts/test.sh exports it)"))
struct DashboardBrowserTests {
    /// Five stages in a chain.
    static let five = """
        version: 1
        name: five
        description: Five stages in a chain, for the dashboard's live tests.
        outputs: [publish]
        stages:
          gather:
            role: planner
            prompt: "Gather notes on tea."
          outline:
            role: planner
            prompt: "Outline from {{stages.gather.output}}"
          draft:
            role: writer
            prompt: "Draft from {{stages.outline.output}}"
          polish:
            role: writer
            TEMPERATURE
            prompt: "Polish {{stages.draft.output}}"
          publish:
            role: writer
            prompt: "Publish {{stages.polish.output}}"
        """
    static let stages = ["gather", "outline", "draft", "polish", "publish"]

    /// A sandbox whose runs save progress at the default interval (the other command tests save after every token,
    /// which a 5 MB output cannot afford) and whose five-stage pipeline is written, `polish` at `temperature`.
    static func sandbox(_ name: String, temperature: String = "0.2") throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_PROGRESS_INTERVAL"] = nil
        try writeFive(sandbox, temperature: temperature)
        return sandbox
    }

    static func writeFive(_ sandbox: RunSandbox, temperature: String) throws {
        try five.replacingOccurrences(of: "TEMPERATURE", with: "temperature: \(temperature)")
            .write(toFile: sandbox.folder + "/five.yaml", atomically: true, encoding: .utf8)
    }

    /// Writes an echo script into the sandbox and returns its path.
    static func script(_ sandbox: RunSandbox, _ name: String, _ text: String) throws -> String {
        let path = sandbox.folder + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let runFive = ["run", "five.yaml", "--profile", "ci", "--quiet"]

    // MARK: - D1

    @Test func theRunsListAndAFinishedRunsPageShowWhatTheDatabaseHolds() async throws {
        // Given a completed run with a critic loop and a failed run
        let sandbox = try Self.sandbox("browser-finished")
        let completed = try await sandbox.runPipeline()
        #expect(completed.status == 0, "\(completed.summary)")
        let failing = try Self.script(sandbox, "fail.yaml", "draft:\n  1: {fail: permanent}\n")
        let failed = try await sandbox.baton(Self.runFive, ["BATON_ECHO_SCRIPT": failing])
        #expect(failed.status != 0, "\(failed.summary)")
        let store = try sandbox.store()
        let runs = try store.runs()
        try #require(runs.count == 2)
        let run = try #require(runs.first { $0.status == .completed })
        let attempts = try store.attempts(run.id)
        let events = try DashboardBrowser.eventIDs(sandbox, run.id)
        let second = try #require(attempts.first { $0.stage == "plan" && $0.round == 2 })

        // When Chromium opens the runs list, the run by its link, a stage, a permalink and an unknown run
        let serve = try await ServeProcess(sandbox)
        defer { serve.process.stopIfRunning() }
        let page = try await DashboardBrowser.run(
            "finished.py", [serve.url, run.id, "\(events.count)", "plan", "\(second.id ?? 0)"])

        // Then the list has both runs, newest first, with their statuses and links
        #expect(page["runs_status"] as? Int == 200)
        #expect(page["runs_page"] as? String == "runs")
        #expect(page["actions"] as? String == "off")
        let nav = page["nav"] as? [String] ?? []
        #expect(nav.contains("/") && nav.contains("/compare"), "\(nav)")
        let rows = page["rows"] as? [[String: Any]] ?? []
        #expect(rows.compactMap { $0["id"] as? String } == runs.map(\.id))
        #expect(rows.compactMap { $0["status"] as? String } == runs.map(\.status.rawValue))
        #expect(rows.compactMap { $0["link"] as? String } == runs.map { "/runs/\($0.id)" })
        #expect(rows.compactMap { $0["pipeline"] as? String } == runs.map(\.pipeline))
        #expect(page["rows_filtered_failed"] as? Int == 1, "\(page["rows_filtered_failed"] ?? "nil")")

        // And the run page shows every stage of the run completed, every event and every attempt
        #expect(page["run_page"] as? [String] == ["run", run.id])
        #expect(page["run_status"] as? String == "completed")
        let stages = DashboardBrowser.statuses(page["stages"])
        #expect(stages == Dictionary(uniqueKeysWithValues: Set(attempts.map(\.stage)).map { ($0, "completed") }))
        let counts = page["counts"] as? [String: Any] ?? [:]
        #expect(counts["event_count"] as? Int == events.count)
        #expect(counts["last_event_id"] as? Int == events.last)
        let bars = page["bars"] as? [[String: Any]] ?? []
        #expect(Set(bars.compactMap { $0["attempt"] as? String }) == Set(attempts.compactMap { $0.id.map(String.init) }))
        let memory = page["memory"] as? [String: Any] ?? [:]
        #expect(memory["lane"] as? Bool == true && memory["budget"] as? Int ?? 0 >= 1, "\(memory)")

        // And a click on a stage opens its latest attempt and says so in the URL; a permalink opens its attempt
        let latest = try #require(attempts.last { $0.stage == "plan" })
        #expect((page["clicked_url"] as? String ?? "").contains("stage=plan"), "\(page["clicked_url"] ?? "")")
        #expect(page["clicked_output"] as? String == latest.output)
        #expect(page["permalink_output"] as? String == second.output)
        #expect(page["permalink_prompt"] as? String == second.prompt)
        #expect((page["permalink_meta"] as? String ?? "").contains(second.model ?? "?"), "\(page["permalink_meta"] ?? "")")

        // And an unknown run is a 404 page naming it and linking home; the pages broke no rule of their policy
        #expect(page["missing_status"] as? Int == 404)
        #expect((page["missing_text"] as? String ?? "").contains("no-such-run-42"))
        #expect(page["missing_home_link"] as? Bool == true)
        #expect(DashboardBrowser.pageErrors(page["errors"]).isEmpty, "\(page["errors"] ?? "")")
        #expect(DashboardBrowser.violations(page["runs_hook"]) + DashboardBrowser.violations(page["run_hook"]) == [])
        #expect(try await serve.stop() == 0, "\(serve.process.summary)")
    }

    // MARK: - D2, D4, D3

    @Test func aRunStartedByAnotherProcessUpdatesTheOpenPagesStageByStage() async throws {
        try await followLiveRun("browser-live", killServe: false)
    }

    @Test func killingAndRestartingServeMidRunLosesAndRepeatsNoEvent() async throws {
        try await followLiveRun("browser-restart", killServe: true)
    }

    /// Opens the runs list, starts the five-stage run in another `baton run` process (its first stage waits 4 s so the
    /// run page is open before the second starts, the others 1.5 s each, so a page a poll or two late on a busy machine
    /// still sees each stage running), follows it on the run page, and checks what the page saw against the database.
    /// With `killServe`, `baton serve` is killed (SIGKILL) once the second stage completed and started again on the
    /// same port 1.5 s later, while the run goes on.
    func followLiveRun(_ name: String, killServe: Bool) async throws {
        // Given a database with one finished run, served
        let sandbox = try Self.sandbox(name)
        let first = try await sandbox.baton(Self.runFive, ["BATON_ECHO_SCRIPT": ""])
        try #require(first.status == 0, "\(first.summary)")
        let known = Set(try sandbox.store().runs().map(\.id))
        var serve = try await ServeProcess(sandbox)
        // Whichever server runs at the end (the restarted one, with killServe).
        defer { serve.process.stopIfRunning() }
        let slow = try Self.script(sandbox, "slow.yaml", "gather:\n  1: {delay: 4s}\n")

        // When the page is open and another process runs the pipeline
        let driver = try DashboardBrowser.start("live.py", [serve.url])
        defer { driver.stopIfRunning() }
        try await DashboardBrowser.reach(driver, "ready")
        let run = try sandbox.start(Self.runFive, ["BATON_ECHO_SCRIPT": slow, "BATON_ECHO_CALL_DELAY": "1500ms"])
        let runID = try await DashboardBrowser.newRun(sandbox, besides: known)
        driver.send(runID)
        try await DashboardBrowser.reach(driver, "opened")
        if killServe {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, try sandbox.attempts(runID).filter({ $0.status == .completed }).count < 2 {
                try await Task.sleep(for: .milliseconds(50))
            }
            serve.process.signal(SIGKILL)
            _ = try await serve.process.exit(timeout: 10)
            try await Task.sleep(for: .milliseconds(1500))
            serve = try await ServeProcess(sandbox, port: serve.port)
        }
        let page = try await DashboardBrowser.result(driver)
        let finished = await run.wait()
        #expect(finished.status == 0, "\(finished.summary)")

        // Then the runs list showed the new row and its end without a reload
        #expect(page["row_appeared"] as? Bool == true)
        #expect(page["row_final_status"] as? String == "completed")
        #expect(page["runs_not_reloaded"] as? Bool == true)

        // And the run page showed each stage go running → completed, in the plan's order
        #expect(page["run_status"] as? String == "completed")
        #expect(page["stream_ended"] as? Bool == true)
        let hook = page["hook"] as? [String: Any] ?? [:]
        let transitions = (hook["transitions"] as? [[String: Any]] ?? []).map {
            (stage: $0["stage"] as? String ?? "", status: $0["status"] as? String ?? "", t: $0["t"] as? Int ?? 0)
        }
        var completedAt: [Int] = []
        for stage in Self.stages {
            let seen = transitions.filter { $0.stage == stage }.map(\.status).filter { $0 != "pending" }
            if killServe {
                // While the server is down a stage can start and end: the page then learns both at once.
                #expect(seen == ["running", "completed"] || seen == ["completed"], "\(stage) went \(seen)")
            } else {
                #expect(seen == ["running", "completed"], "\(stage) went \(seen)")
            }
            completedAt.append(transitions.first { $0.stage == stage && $0.status == "completed" }?.t ?? -1)
        }
        #expect(completedAt == completedAt.sorted() && !completedAt.contains(-1), "\(transitions)")
        for (before, after) in zip(Self.stages, Self.stages.dropFirst()) {
            guard let next = transitions.first(where: { $0.stage == after && $0.status == "running" })?.t else { continue }
            let done = transitions.first { $0.stage == before && $0.status == "completed" }?.t ?? .max
            #expect(done <= next, "\(after) ran before \(before) completed: \(transitions)")
        }

        // And it applied every event of the database once: its count equals the database's, and no stream sent an
        // id twice or out of order, across the restart too
        let events = try DashboardBrowser.eventIDs(sandbox, runID)
        let counts = page["counts"] as? [String: Any] ?? [:]
        #expect(counts["event_count"] as? Int == events.count, "page \(counts), database \(events.count)")
        #expect(counts["last_event_id"] as? Int == events.last)
        let streamed = DashboardBrowser.streamedIDs(hook)
        #expect(streamed == streamed.sorted() && Set(streamed).count == streamed.count, "ids twice or out of order: \(streamed)")
        #expect(Set(streamed).isSubset(of: Set(events)) && streamed.last == events.last, "streamed \(streamed), database \(events)")
        // And its stream connected once, or (with the restart) lost its connection and made another
        let opens = hook["opens"] as? Int ?? 0
        #expect(killServe ? opens >= 2 : opens == 1, "the run page's event stream opened \(opens) times")
        #expect(DashboardBrowser.pageErrors(page["errors"], serverWasDown: killServe).isEmpty, "\(page["errors"] ?? "")")
        #expect(DashboardBrowser.violations(hook).isEmpty)
        #expect(try await serve.stop() == 0, "\(serve.process.summary)")
    }

    // MARK: - D5

    @Test func theComparePageMarksOnlyTheStageWhoseTemperatureChanged() async throws {
        // Given two runs of the five stages, polish at temperature 0.2 and then 0.9
        let sandbox = try Self.sandbox("browser-compare")
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        let a = try await sandbox.baton(Self.runFive)
        try Self.writeFive(sandbox, temperature: "0.9")
        let b = try await sandbox.baton(Self.runFive)
        try #require(a.status == 0 && b.status == 0, "\(a.summary)\n\(b.summary)")
        let runs = try sandbox.store().runs()
        let (older, newer) = (runs[1].id, runs[0].id)

        // When Chromium opens the compare page of the two
        let serve = try await ServeProcess(sandbox)
        defer { serve.process.stopIfRunning() }
        let page = try await DashboardBrowser.run("compare.py", [serve.url, older, newer])

        // Then it has a row per stage and only polish is marked changed, naming the temperature
        #expect(page["status"] as? Int == 200)
        let body = page["body"] as? [String: Any] ?? [:]
        #expect(body["page"] as? String == "compare" && body["a"] as? String == older && body["b"] as? String == newer, "\(body)")
        let rows = page["rows"] as? [[String: Any]] ?? []
        #expect(Set(rows.compactMap { $0["stage"] as? String }) == Set(Self.stages))
        #expect(rows.filter { $0["changed"] as? String == "true" }.compactMap { $0["stage"] as? String } == ["polish"], "\(rows)")
        #expect(rows.filter { $0["changed"] as? String == "false" }.count == 4, "\(rows)")
        let polish = rows.first { $0["stage"] as? String == "polish" }
        let marked = (polish?["marked"] as? [String] ?? []).joined(separator: " ")
        #expect(marked.contains("temperature") || marked.contains("0.9"), "polish's marked cells: \(marked)")
        #expect(DashboardBrowser.pageErrors(page["errors"]).isEmpty, "\(page["errors"] ?? "")")
        #expect(DashboardBrowser.violations(page["hook"]).isEmpty)

        // And without both runs it offers them in a form
        let form = page["form"] as? [String: Any] ?? [:]
        let options = Set(form["options"] as? [String] ?? [])
        #expect(form["page"] as? String == "compare" && options.isSuperset(of: [older, newer]), "\(form)")
        #expect(try await serve.stop() == 0, "\(serve.process.summary)")
    }

    // MARK: - D6

    @Test func aFiveMegabyteStreamedOutputKeepsThePageResponsive() async throws {
        // Given an OpenAI-compatible stand-in streaming 10,000 tokens (5,000,000 characters) over about 8 s
        let python = try #require(DashboardBrowser.python)
        let standIn = try LineProcess(
            "stream_server.py", python, [DashboardBrowser.drivers + "/stream_server.py", "--seconds", "8"],
            environment: ProcessInfo.processInfo.environment, directory: DashboardBrowser.drivers)
        defer { standIn.stopIfRunning() }
        let standInURL = try #require(try await standIn.line(timeout: 30) { $0.hasPrefix("http://") }, "\(standIn.summary)")
        let sandbox = try Self.sandbox("browser-large")
        try FileManager.default.createDirectory(atPath: sandbox.folder + "/profiles", withIntermediateDirectories: true)
        try Self.bigProfile(standInURL).write(toFile: sandbox.folder + "/profiles/big.yaml", atomically: true, encoding: .utf8)
        try Self.big.write(toFile: sandbox.folder + "/big.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_PROFILE_PATH"] = sandbox.folder + "/profiles"
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        let first = try await sandbox.baton(["run", "five.yaml", "--runtime", "echo", "--quiet"])
        try #require(first.status == 0, "\(first.summary)")
        let known = Set(try sandbox.store().runs().map(\.id))
        let serve = try await ServeProcess(sandbox)
        defer { serve.process.stopIfRunning() }

        // When the run streams into the open page, and the page is scrolled and clicked afterwards
        let full = 5_000_000
        let driver = try DashboardBrowser.start("large.py", [serve.url, "long", "intro", "\(full)"])
        defer { driver.stopIfRunning() }
        try await DashboardBrowser.reach(driver, "ready")
        let run = try sandbox.start(["run", "big.yaml", "--profile", "big", "--quiet"])
        let runID = try await DashboardBrowser.newRun(sandbox, besides: known)
        driver.send(runID)
        let page = try await DashboardBrowser.result(driver, timeout: 300)
        let finished = await run.wait()
        try #require(finished.status == 0, "\(finished.summary)")
        let output = try #require(try sandbox.attempts(runID).last { $0.stage == "long" }?.output)
        try #require(output.utf16.count == full)

        // Then the output streamed in (the page showed it growing while the stage ran) and ends as the database's
        let figures = [
            "scroll", "scroll_all", "click_other_ms", "click_back_ms", "show_all", "max_frame_gap_ms", "max_round_trip_ms",
            "after_round_trip_ms", "streamed_progress",
        ]
        print("D6 figures (ms, performance.now() in the page): \(page.filter { figures.contains($0.key) })")
        #expect(page["run_status"] as? String == "completed")
        #expect((page["streamed_progress"] as? [Int] ?? []).filter { $0 < 9_999 }.count >= 2, "\(page["streamed_progress"] ?? "")")
        let tail = String(output.suffix(200))
        #expect(page["shown_tail"] as? String == tail)
        let events = try DashboardBrowser.eventIDs(sandbox, runID)
        #expect((page["counts"] as? [String: Any])?["event_count"] as? Int == events.count)

        // And every scripted use of the page completed: scrolls, clicks between stages, "show all" of the 5 MB
        #expect(((page["scroll"] as? [String: Any])?["ms"] as? Double ?? -1) >= 0, "\(page["scroll"] ?? "")")
        #expect(page["click_other_ms"] as? Double ?? -1 >= 0, "\(page["click_other_ms"] ?? "")")
        #expect(page["click_back_ms"] as? Double ?? -1 >= 0, "\(page["click_back_ms"] ?? "")")
        let showAll = page["show_all"] as? [String: Any] ?? [:]
        #expect(showAll["found"] as? Bool == true && showAll["length"] as? Int == full, "\(showAll)")
        #expect(((page["scroll_all"] as? [String: Any])?["ms"] as? Double ?? -1) >= 0, "\(page["scroll_all"] ?? "")")
        #expect(page["full_tail"] as? String == tail)
        #expect(DashboardBrowser.pageErrors(page["errors"]).isEmpty, "\(page["errors"] ?? "")")
        #expect(page["csp"] as? [String] ?? [] == [])
        #expect(try await serve.stop() == 0, "\(serve.process.summary)")
    }

    // MARK: - Security

    @Test func markupInAnOutputOrAnInputStaysText() async throws {
        // Given a run whose stage output and input hold a script and an image with a handler, and a plain run
        let sandbox = try Self.sandbox("browser-hostile")
        try Self.hostile.write(toFile: sandbox.folder + "/hostile.yaml", atomically: true, encoding: .utf8)
        let plain = try Self.script(sandbox, "plain.yaml", "say:\n  \"*\": {output: plain words}\n")
        let marked = try Self.script(sandbox, "marked.yaml", "say:\n  \"*\": {output: '\(Self.payload)'}\n")
        let arguments = ["run", "hostile.yaml", "--profile", "ci", "--quiet", "--input", "note=<script>window.pwned=3</script>"]
        let a = try await sandbox.baton(arguments, ["BATON_ECHO_SCRIPT": plain])
        let b = try await sandbox.baton(arguments, ["BATON_ECHO_SCRIPT": marked])
        try #require(a.status == 0 && b.status == 0, "\(a.summary)\n\(b.summary)")
        let runs = try sandbox.store().runs()
        try #require(try sandbox.attempts(runs[0].id).first?.output == Self.payload)

        // When Chromium shows its run page, its comparison and the runs list, with the policy and without it
        let serve = try await ServeProcess(sandbox)
        defer { serve.process.stopIfRunning() }
        let page = try await DashboardBrowser.run("hostile.py", [serve.url, runs[0].id, "say", runs[1].id])

        // Then nothing ran, no element came from the run's text, and the panel shows the text as written
        for mode in ["served", "bypass_csp"] {
            let seen = page[mode] as? [String: Any] ?? [:]
            for view in ["run", "compare", "runs"] {
                let probe = seen[view] as? [String: Any] ?? [:]
                #expect(probe["pwned"] is NSNull, "\(mode) \(view): window.pwned = \(probe["pwned"] ?? "")")
                #expect(probe["images"] as? Int == 0, "\(mode) \(view)")
                let scripts = probe["scripts"] as? [String] ?? []
                #expect(!scripts.contains { $0.hasPrefix("inline") }, "\(mode) \(view): \(scripts)")
                #expect(probe["csp"] as? [String] ?? [] == [], "\(mode) \(view)")
            }
            #expect(seen["output"] as? String == Self.payload, "\(mode)")
            #expect((seen["prompt"] as? String ?? "").contains("window.pwned=3"), "\(mode): \(seen["prompt"] ?? "")")
        }
        #expect(try await serve.stop() == 0, "\(serve.process.summary)")
    }

    @Test func withATokenThePageAndTheAPINeedIt() async throws {
        // Given a served database that requires a token
        let sandbox = try Self.sandbox("browser-token")
        let first = try await sandbox.baton(Self.runFive, ["BATON_ECHO_SCRIPT": ""])
        try #require(first.status == 0, "\(first.summary)")
        let token = "browser-test-token-0123456789"
        let serve = try await ServeProcess(sandbox, extra: ["--token", token])
        defer { serve.process.stopIfRunning() }

        // When a browser opens it without the token, with a wrong one, and with `?token=`
        let page = try await DashboardBrowser.run("auth.py", [serve.url, token])

        // Then without it: 401, saying how to open it; with it: one redirect to the bare URL and an HttpOnly cookie
        let without = page["without"] as? [String: Any] ?? [:]
        #expect(without["status"] as? Int == 401 && (without["text"] as? String ?? "").contains("?token="), "\(without)")
        let api = page["api_without"] as? [String: Any] ?? [:]
        #expect(api["status"] as? Int == 401 && (api["text"] as? String ?? "").contains("\"error\""), "\(api)")
        #expect((page["wrong"] as? [String: Any])?["status"] as? Int == 401)
        let with = page["with"] as? [String: Any] ?? [:]
        #expect(with["status"] as? Int == 200 && with["url"] as? String == serve.url, "\(with)")
        #expect((with["redirects"] as? [Int] ?? []).contains(303), "\(with)")
        #expect(with["rows"] as? Int ?? 0 >= 1)
        let cookies = page["cookies"] as? [[String: Any]] ?? []
        #expect(cookies.count == 1, "\(cookies)")
        #expect(cookies.first?["name"] as? String == "baton_token" && cookies.first?["httpOnly"] as? Bool == true)
        #expect(cookies.first?["sameSite"] as? String == "Strict" && cookies.first?["matches"] as? Bool == true, "\(cookies)")
        #expect(page["script_sees_cookie"] as? Bool == false)
        #expect(DashboardBrowser.pageErrors(page["errors"]).isEmpty, "\(page["errors"] ?? "")")
        #expect(try await serve.stop() == 0, "\(serve.process.summary)")
    }
}
