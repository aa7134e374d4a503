import BatonSpec
import Foundation
import HTTPTypes
import HummingbirdCore
import NIOCore

/// The routes of `baton serve`: the pages, the assets, the JSON API and the event streams (docs/serve.md).
struct ServeRoutes: Sendable {
    let options: ServeOptions
    let store: RunStore
    let tail: EventTail
    /// Each listed run's ``PlanFacts`` by run id and pipeline hash (a replaced snapshot has a new hash): the list is
    /// asked for again on every event while a run executes, and the facts come from parsing the snapshot.
    let facts = Locked<[String: PlanFacts]>([:])

    var context: PageContext { PageContext(actionsAllowed: options.allowActions) }

    /// The response to `request` (the guard has checked it): the route its method and path name, else 404.
    func route(_ request: Request) async throws -> Response {
        // Each segment percent-decoded: the path arrives as the browser encoded it.
        let path = request.uri.path.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        let query = request.uri.queryParameters
        if request.method == .get {
            switch path.count {
            case 0: return Reply.html(DashboardPages.runsPage(context))
            case 1 where path[0] == "compare":
                return Reply.html(
                    DashboardPages.comparePage(a: query["a"].flatMap(nonEmpty), b: query["b"].flatMap(nonEmpty), context: context))
            case 2 where path[0] == "runs": return try runPage(path[1])
            case 2 where path == ["assets", "dashboard.js"]: return asset(DashboardAssets.script, type: "text/javascript; charset=utf-8")
            case 2 where path == ["assets", "dashboard.css"]: return asset(DashboardAssets.style, type: "text/css; charset=utf-8")
            case 2 where path == ["api", "runs"]: return runs(request)
            case 2 where path == ["api", "events"]: return allEvents(request)
            case 2 where path == ["api", "compare"]: return try compare(request)
            case 3 where path[0] == "api" && path[1] == "runs": return try document(path[2])
            case 4 where path[0] == "api" && path[1] == "runs" && path[3] == "events": return runEvents(path[2], request)
            case 5 where path[0] == "api" && path[1] == "runs" && path[3] == "attempts": return attempt(path[4], runID: path[2])
            default: break
            }
        }
        if request.method == .post, path.count == 4, path[0] == "api", path[1] == "runs" {
            let actions = ServeActions(options: options, store: store)
            switch path[3] {
            case "resume": return actions.resume(path[2])
            case "interrupt": return actions.interrupt(path[2])
            case "rerun":
                var request = request
                let body = try await request.collectBody(upTo: 64 * 1024)
                return actions.rerun(path[2], body: Data(body.readableBytesView))
            default: break
            }
        }
        return Reply.failure(.notFound, "no such page: \(request.method) \(request.uri.path)", api: path.first == "api", options: options)
    }

    private func nonEmpty(_ text: some StringProtocol) -> String? { text.isEmpty ? nil : String(text) }

    private func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A store failure as a response: 404 for an unknown run, 500 for the rest. The database's path is left out: a
    /// server reached over the network tells its visitors nothing about the machine's files.
    static func failure(_ error: StoreError, api: Bool, options: ServeOptions) -> Response {
        let message = error.message
            .replacingOccurrences(of: "'\(options.databasePath)'", with: "the run database")
            .replacingOccurrences(of: options.databasePath, with: "the run database")
            .replacingOccurrences(of: "; 'baton runs' lists the runs", with: "")
        return Reply.failure(error.code == .runNotFound ? .notFound : .internalServerError, message, api: api, options: options)
    }

    // MARK: - Pages

    func runPage(_ id: String) throws -> Response {
        do {
            let run = try store.run(id)
            let snapshot = try RunSnapshot.decode(run.snapshot)
            return Reply.html(DashboardPages.runPage(runID: run.id, plan: snapshot.plan, context: context))
        } catch let error as StoreError {
            return Self.failure(error, api: false, options: options)
        }
    }

    // MARK: - API

    func runs(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        let status = query["status"].flatMap(nonEmpty).map(RunStatus.init(rawValue:))
        if let status, case .other(let text) = status {
            return Reply.json(
                ServeJSON.error("unknown status '\(text)'; use running, completed, failed or interrupted"), status: .badRequest)
        }
        var limit = 100
        if let text = query["limit"].flatMap(nonEmpty) {
            guard let value = Int(text), value > 0 else {
                return Reply.json(ServeJSON.error("limit '\(text)' is not a positive number"), status: .badRequest)
            }
            limit = min(value, 1000)
        }
        do {
            // Read first: whatever the rows miss comes after it on /api/events?after=.
            let last = try store.lastEventID()
            var rows = try store.dashboardRuns(status: status, pipeline: query["pipeline"].flatMap(nonEmpty), limit: limit)
            let key = { (row: DashboardRunRow) in row.run.id + "|" + row.run.pipelineHash }
            let missing = rows.filter { row in facts.withLock { $0[key(row)] == nil } }.map(\.run.id)
            let found = try store.planFacts(missing)
            facts.withLock { known in
                for row in rows where found[row.run.id] != nil { known[key(row)] = found[row.run.id] }
                // Runs deleted or far down the list leave; the cache stays the size of a list.
                if known.count > 5000 { known = [:] }
            }
            let cached = facts.current
            for index in rows.indices {
                let fact = cached[key(rows[index])] ?? found[rows[index].run.id]
                rows[index].profile = fact?.profile
                rows[index].stagesTotal = fact?.stagesTotal ?? 0
            }
            let now = RunStore.now()
            return Reply.json(
                ServeJSON.text([
                    "format_version": JSONTime.formatVersion, "last_event_id": last, "runs": rows.map { ServeJSON.runRow($0, now: now) },
                ]))
        } catch {
            return Self.failure(error, api: true, options: options)
        }
    }

    func document(_ id: String) throws -> Response {
        do {
            // The events first: the attempts read after them are at least as new, and the stream goes on from the last.
            let events = try store.events(id)
            let report = try RunReport.load(id, from: store)
            var object = try RunDocument.object(report, events: events)
            object["last_event_id"] = events.last?.id ?? 0
            object["profile"] = report.snapshot.profile?.chain.first ?? report.snapshot.plan.profile ?? NSNull()
            object["budget_bytes"] = LoadSchedule.resolveBudget(report.snapshot.plan.memoryBudget, machine: MachineMemory.current()).0
            object["actions_allowed"] = options.allowActions
            return Reply.json(ServeJSON.text(object))
        } catch let error as StoreError {
            return Self.failure(error, api: true, options: options)
        }
    }

    func attempt(_ text: String, runID: String) -> Response {
        guard let id = Int64(text) else {
            return Reply.json(ServeJSON.error("attempt id '\(text)' is not a number"), status: .badRequest)
        }
        do {
            guard let attempt = try store.attempt(id, runID: runID) else {
                _ = try store.run(runID)
                return Reply.json(ServeJSON.error("run \(runID) has no attempt \(id)"), status: .notFound)
            }
            return Reply.json(
                ServeJSON.text(["format_version": JSONTime.formatVersion, "attempt": ServeJSON.attempt(attempt)] as [String: Any]))
        } catch {
            return Self.failure(error, api: true, options: options)
        }
    }

    func compare(_ request: Request) throws -> Response {
        let query = request.uri.queryParameters
        guard let a = query["a"].flatMap(nonEmpty), let b = query["b"].flatMap(nonEmpty) else {
            return Reply.json(ServeJSON.error("compare needs two runs: /api/compare?a=RUN&b=RUN"), status: .badRequest)
        }
        do {
            let comparison = RunComparison.compare(try RunReport.load(a, from: store), try RunReport.load(b, from: store))
            return Reply.json(ServeJSON.escapingMarkup(try comparison.json()))
        } catch let error as StoreError {
            return Self.failure(error, api: true, options: options)
        }
    }
}
