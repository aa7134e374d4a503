import Foundation
import GRDB

/// The SQLite run store (``RunStoreBackend``), the default: runs, their attempts and their event log, one transaction per state change.
///
/// On disk it is a WAL-mode database created with mode 0600. `synchronous = NORMAL`: a committed
/// checkpoint survives the process being killed at any point; after a power loss the last commits may
/// be missing but the database is consistent.
public struct SQLiteRunStore: RunStoreBackend {
    private let writer: any DatabaseWriter
    /// The database file, nil for an in-memory store.
    public let path: String?
    /// The database file, for messages.
    public var location: String? { path }
    /// Crash tests only: kills the process inside chosen commits.
    public var killSwitch: KillSwitch?
    /// The worker's lease every write checks first (``RunStoreBackend/fence``).
    public var fence: RunFence?
    /// A completed attempt's end waiting for the next write transaction (RunStore+Pending), shared by every copy.
    let pending = PendingFinish()

    /// Opens (creating if needed) the database at `path`, and migrates it.
    ///
    /// - Throws: ``StoreError``: `.newerSchema` when a newer Baton wrote it, `.corrupt` when it is not a
    ///   run database, `.unwritable` when it cannot be created or written.
    public init(path: String) throws(StoreError) {
        self.path = path
        do {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
                do {
                    try FileManager.default.createDirectory(
                        atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                } catch {
                    var reason = error.localizedDescription
                    if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error,
                        (underlying as NSError).domain == NSPOSIXErrorDomain
                    {
                        reason = String(cString: strerror(Int32((underlying as NSError).code)))
                    }
                    throw StoreError(
                        .unwritable,
                        "the folder '\(folder)' for the run database cannot be created (\(reason)); check its parent's permissions, or choose another database with --db or BATON_DB"
                    )
                }
            }
            if !FileManager.default.fileExists(atPath: path) {
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
                if fd >= 0 { close(fd) }
            } else if Self.writtenByNewerBaton(path) {
                // Checked first on a connection that only reads: opening a DatabasePool writes to the file.
                throw Self.newerSchemaError(path)
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            writer = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.wrap(error, path: path)
        }
        try migrate()
    }

    /// Opens the database at `path` for commands that only read it (`runs`, `show`): as ``init(path:)``
    /// does when it can be written, else read-only, so a database on a read-only disk or owned by another
    /// user can still be inspected. When even SQLite's shared-memory file cannot be created next to it, the
    /// file is read as immutable (a snapshot: changes another process makes meanwhile are not seen).
    ///
    /// - Throws: ``StoreError``: as ``init(path:)``, and `.unwritable` for a read-only database that an
    ///   older Baton wrote (upgrading it needs write access).
    public static func forReading(path: String) throws(StoreError) -> SQLiteRunStore {
        do {
            return try SQLiteRunStore(path: path)
        } catch  where error.code == .unwritable && FileManager.default.fileExists(atPath: path) {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            let immutable = "file:" + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path) + "?immutable=1"
            for candidate in [path, immutable] {
                guard let queue = try? DatabaseQueue(path: candidate, configuration: configuration),
                    let state = try? queue.read({ db in
                        (try Migrations.migrator.hasBeenSuperseded(db), try Migrations.migrator.hasCompletedMigrations(db))
                    })
                else { continue }
                if state.0 { throw newerSchemaError(path) }
                guard state.1 else {
                    throw StoreError(
                        .unwritable,
                        "the run database '\(path)' was written by an older baton and cannot be upgraded because it is read-only; run a baton command that can write it once, or copy it somewhere writable"
                    )
                }
                return SQLiteRunStore(readOnly: queue, path: path)
            }
            throw error
        }
    }

    private init(readOnly queue: DatabaseQueue, path: String) {
        self.writer = queue
        self.path = path
    }

    /// An empty in-memory store, for tests.
    public static func inMemory() throws(StoreError) -> SQLiteRunStore {
        do {
            return try SQLiteRunStore(writer: DatabaseQueue())
        } catch {
            throw StoreError.wrap(error, path: nil)
        }
    }

    private init(writer: any DatabaseWriter) throws(StoreError) {
        self.writer = writer
        self.path = nil
        try migrate()
    }

    private func migrate() throws(StoreError) {
        do {
            let migrator = Migrations.migrator
            if try writer.read({ try migrator.hasBeenSuperseded($0) }) {
                throw Self.newerSchemaError(path)
            }
            try migrator.migrate(writer)
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    static func newerSchemaError(_ path: String?) -> StoreError {
        StoreError(
            .newerSchema,
            "the run database \(path.map { "'\($0)'" } ?? "") was written by a newer version of baton; upgrade baton, or use another database with --db or BATON_DB"
        )
    }

    /// Whether the existing file at `path` has migrations this Baton does not know, read on a plain
    /// connection that writes nothing (a `DatabasePool` writes as it opens; a read-only connection would
    /// leave `-wal` and `-shm` files behind). Any failure answers false and is left for the real open.
    private static func writtenByNewerBaton(_ path: String) -> Bool {
        guard let probe = try? DatabaseQueue(path: path) else { return false }
        defer { try? probe.close() }
        return (try? probe.read { try Migrations.migrator.hasBeenSuperseded($0) }) ?? false
    }

    /// Runs `body` in one write transaction, mapping database errors. A completed attempt's end that waits
    /// (``finishAttempt(_:event:payload:deferred:)``) is written first, in the same transaction.
    ///
    /// BEGIN and COMMIT are cached statements: GRDB's `write` prepares both again for every transaction, which
    /// was about a tenth of the store's time per stage (Benchmarks/README.md, 2026-12-07 afternoon).
    @discardableResult
    func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        var waiting: PendingFinish.Entry?
        do {
            return try writer.writeWithoutTransaction { db in
                // Taken on the writer's queue, so the first transaction to run carries it, whichever thread asked.
                waiting = pending.take()
                try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
                do {
                    if let fence {
                        let epoch = try Int64.fetchOne(
                            db, sql: "SELECT lease_epoch FROM runs WHERE id = ?", arguments: [fence.runID])
                        if epoch != fence.epoch { throw fence.refused(current: epoch) }
                    }
                    if let waiting { try writePending(waiting, db) }
                    let result = try body(db)
                    try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                    return result
                } catch {
                    try? db.rollback()
                    throw error
                }
            }
        } catch {
            // Not written: it waits for the next transaction (or the caller's error ends the run).
            if let waiting { pending.putBack(waiting) }
            throw StoreError.wrap(error, path: path)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        // What this process recorded is what it reads back.
        if pending.isWaiting { try commitPending() }
        do {
            return try writer.read(body)
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    // MARK: - Runs

    /// Records a new run and its first event.
    /// Records a new run; with `reusing`, also copies the completed attempts of those stages of the
    /// parent run (`baton rerun`), in the same transaction, so a crash never leaves a rerun without them.
    ///
    /// When `freshID` is given and `run.id` is taken (ids are the second and 16 random bits, so a busy
    /// `baton test` or several processes can draw the same one), the run gets the first free id it draws
    /// instead; the check is inside the write transaction, so no other process can take it meanwhile.
    /// - Returns: the id the run was created under.
    @discardableResult
    public func createRun(
        _ run: RunRecord, reusing parent: (runID: String, stages: Set<String>)? = nil, freshID: (() -> String)? = nil
    ) throws(StoreError) -> String {
        try write { db in
            var run = run
            if let freshID {
                var draws = 0
                while try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [run.id]) == true, draws < 1000 {
                    run.id = freshID()
                    draws += 1
                }
            }
            // The snapshot has its own table (migration v3): the runs row is updated often, and SQLite
            // rewrites all of a row when any of it changes.
            var row = run
            row.snapshot = ""
            try row.insert(db)
            try db.execute(sql: "INSERT INTO run_snapshots (run_id, snapshot) VALUES (?, ?)", arguments: [run.id, run.snapshot])
            var event = EventRecord(
                id: nil, runID: run.id, at: run.createdAt, kind: .runCreated, stage: nil, attemptID: nil, payload: nil)
            try event.insert(db)
            if let parent { try Self.copyCompletedAttempts(db, from: parent.runID, to: run.id, stages: parent.stages) }
            return run.id
        }
    }

    /// The run `id`.
    ///
    /// - Throws: ``StoreError`` `.runNotFound` when there is none.
    public func run(_ id: String) throws(StoreError) -> RunRecord {
        guard let run = try read({ db in try RunRecord.fetchOne(db, key: id).map { try Self.withSnapshot($0, db) } }) else {
            let known = (try? read { try String.fetchAll($0, sql: "SELECT id FROM runs ORDER BY created_at DESC LIMIT 200") }) ?? []
            let close = known.first { $0.hasPrefix(id) }
            throw StoreError(
                .runNotFound,
                "no run '\(id)' in \(path.map { "'\($0)'" } ?? "the run database")"
                    + (close.map { "; did you mean '\($0)'?" } ?? "; 'baton runs' lists the runs"))
        }
        return run
    }

    /// Runs, newest first, optionally filtered by status and pipeline.
    public func runs(status: RunStatus? = nil, pipeline: String? = nil, limit: Int = 1000) throws(StoreError) -> [RunRecord] {
        try read { db in
            var request = RunRecord.order(Column("created_at").desc).limit(limit)
            if let status { request = request.filter(Column("status") == status) }
            if let pipeline { request = request.filter(Column("pipeline") == pipeline) }
            return try request.fetchAll(db).map { try Self.withSnapshot($0, db) }
        }
    }

    /// `run` with its pinned snapshot, which lives in `run_snapshots` (runs recorded before migration v3
    /// were moved there by it).
    private static func withSnapshot(_ run: RunRecord, _ db: Database) throws -> RunRecord {
        var run = run
        if let snapshot = try String.fetchOne(db, sql: "SELECT snapshot FROM run_snapshots WHERE run_id = ?", arguments: [run.id]) {
            run.snapshot = snapshot
        }
        return run
    }

    /// Sets a run's status (and error), with an event of `kind`.
    public func setStatus(
        _ runID: String, _ status: RunStatus, error: String? = nil, event kind: EventKind, payload: String? = nil
    ) throws(StoreError) {
        let now = RunStore.now()
        try write { db in
            let finished: Double? = status.isFinished ? now : nil
            try db.execute(
                sql: "UPDATE runs SET status = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                arguments: [status, error, now, finished, runID])
            var event = EventRecord(id: nil, runID: runID, at: now, kind: kind, stage: nil, attemptID: nil, payload: payload)
            try event.insert(db)
            killSwitch?.hit(.statusCommit)
        }
    }

    /// Replaces a run's pinned snapshot (for `resume --use-current-pipeline`) and marks the attempts of
    /// `changedStages` superseded, in one transaction.
    public func replaceSnapshot(
        _ runID: String, snapshot: String, pipelineHash: String, supersede changedStages: [String]
    ) throws(StoreError) {
        let now = RunStore.now()
        try write { db in
            try db.execute(
                sql: "UPDATE runs SET pipeline_hash = ?, updated_at = ? WHERE id = ?", arguments: [pipelineHash, now, runID])
            try db.execute(
                sql: "INSERT OR REPLACE INTO run_snapshots (run_id, snapshot) VALUES (?, ?)", arguments: [runID, snapshot])
            for stage in changedStages {
                try db.execute(
                    sql: "UPDATE attempts SET status = ? WHERE run_id = ? AND stage = ? AND status != ?",
                    arguments: [AttemptStatus.superseded, runID, stage, AttemptStatus.superseded])
            }
            let payload = try String(decoding: JSONEncoder().encode(["superseded": changedStages]), as: UTF8.self)
            var event = EventRecord(id: nil, runID: runID, at: now, kind: .snapshotReplaced, stage: nil, attemptID: nil, payload: payload)
            try event.insert(db)
        }
    }

    // MARK: - Attempts

    /// Records that an attempt started; returns it with its id.
    public func startAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        // The two hottest statements of a run use cached statements with plain arguments: Codable record
        // encoding cost about a third of each commit (Benchmarks/engine.py).
        try write { db in
            var attempt = attempt
            try HotStatement.run(
                db,
                """
                INSERT INTO attempts (run_id, stage, round, try, status, model, runtime, system, prompt, output,
                started_at, timings, fingerprint, item) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(attempt.runID), .text(attempt.stage), .integer(attempt.round), .integer(attempt.tryNumber),
                    .text(attempt.status.rawValue), .text(attempt.model), .text(attempt.runtime), .text(attempt.system),
                    .text(attempt.prompt), .text(attempt.output), .real(attempt.startedAt), .text(attempt.timings),
                    .text(attempt.fingerprint), .integer(attempt.item),
                ])
            attempt.id = db.lastInsertedRowID
            let item = attempt.item.map { ",\"item\":\($0)" } ?? ""
            try Self.insertEvent(
                db, runID: attempt.runID, at: attempt.startedAt, kind: .attemptStarted, stage: attempt.stage,
                attemptID: attempt.id, payload: "{\"round\":\(attempt.round),\"try\":\(attempt.tryNumber)\(item)}")
            killSwitch?.hit(.attemptStartCommit)
            return attempt
        }
    }

    /// Records a skipped stage: its `skipped` attempt and its `stage-skipped` event (`payload`), in one transaction.
    public func recordSkip(_ attempt: AttemptRecord, payload: String) throws(StoreError) -> AttemptRecord {
        try write { db in
            var attempt = attempt
            try attempt.insert(db)
            try Self.insertEvent(
                db, runID: attempt.runID, at: attempt.startedAt, kind: .stageSkipped, stage: attempt.stage, attemptID: attempt.id,
                payload: payload)
            return attempt
        }
    }

    static func insertEvent(
        _ db: Database, runID: String, at: Double, kind: EventKind, stage: String?, attemptID: Int64?, payload: String?
    ) throws {
        try HotStatement.run(
            db, "INSERT INTO events (run_id, at, kind, stage, attempt_id, payload) VALUES (?, ?, ?, ?, ?, ?)",
            [.text(runID), .real(at), .text(kind.rawValue), .text(stage), .integer(attemptID), .text(payload)])
    }

    /// Records the footprint a runtime measured for a model.
    public func saveFootprint(runtime: String, model: String, bytes: Int64) throws(StoreError) {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO model_footprints (runtime, model, bytes, measured_at) VALUES (?, ?, ?, ?)",
                arguments: [runtime, model, bytes, RunStore.now()])
        }
    }

    /// Every measured footprint.
    public func measuredFootprints() throws(StoreError) -> [ModelKey: Int64] {
        try read { db in
            var result: [ModelKey: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT runtime, model, bytes FROM model_footprints") {
                result[ModelKey(runtime: row["runtime"], name: row["model"])] = row["bytes"]
            }
            return result
        }
    }

    /// How many events of each of `kinds` a run has.
    public func eventCounts(_ runID: String, kinds: [EventKind]) throws(StoreError) -> [EventKind: Int] {
        try read { db in
            var counts: [EventKind: Int] = [:]
            for kind in kinds {
                counts[kind] =
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE run_id = ? AND kind = ?", arguments: [runID, kind]) ?? 0
            }
            return counts
        }
    }

    /// Every attempt of a run without the rendered system message and prompt (which the executor and the
    /// summary never need, and which are most of the bytes of a large run); `output` is kept only for
    /// `outputsOf` stages, or for every stage when nil.
    public func attemptsWithoutPrompts(_ runID: String, outputsOf stages: Set<String>? = nil) throws(StoreError) -> [AttemptRecord] {
        try read { db in
            var outputColumn = "output"
            var arguments: [any DatabaseValueConvertible] = []
            if let stages {
                outputColumn =
                    stages.isEmpty ? "''" : "CASE WHEN stage IN (\(stages.map { _ in "?" }.joined(separator: ","))) THEN output ELSE '' END"
                arguments += stages.sorted()
            }
            arguments.append(runID)
            // Read by column position: a resume reads every attempt of the run, and looking columns up by
            // name (or GRDB's Codable row decoding, before) cost more than SQLite's own work. No ORDER BY:
            // the run's attempts come through the (run, stage, round, try) index, and sorting them by id in
            // SQLite meant a temporary b-tree of every row, spilled to a temporary file for a large run.
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, stage, round, try, status, model, runtime, \(outputColumn) AS output, verdict, feedback,
                    prompt_tokens, output_tokens, started_at, first_token_at, finished_at, timings, error, fingerprint, item,
                    turn, calls FROM attempts WHERE run_id = ?
                    """, arguments: StatementArguments(arguments))
            var attempts: [AttemptRecord] = []
            while let row = try rows.next() {
                attempts.append(
                    AttemptRecord(
                        id: try row.decode(atIndex: 0), runID: runID, stage: try row.decode(atIndex: 1),
                        round: try row.decode(atIndex: 2), tryNumber: try row.decode(atIndex: 3),
                        status: try row.decode(atIndex: 4), model: try row.decode(atIndex: 5),
                        runtime: try row.decode(atIndex: 6), system: nil, prompt: "", output: try row.decode(atIndex: 7),
                        verdict: try row.decode(atIndex: 8), feedback: try row.decode(atIndex: 9),
                        promptTokens: try row.decode(atIndex: 10), outputTokens: try row.decode(atIndex: 11),
                        startedAt: try row.decode(atIndex: 12), firstTokenAt: try row.decode(atIndex: 13),
                        finishedAt: try row.decode(atIndex: 14), timings: try row.decode(atIndex: 15),
                        error: try row.decode(atIndex: 16), fingerprint: try row.decode(atIndex: 17),
                        item: try row.decode(atIndex: 18), turn: try row.decode(atIndex: 19), calls: try row.decode(atIndex: 20)))
            }
            return Self.inOrder(attempts)
        }
    }

    /// Every attempt of a run, in the order they started.
    public func attempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        try read { db in
            // Sorted here rather than by SQLite, as above.
            Self.inOrder(try AttemptRecord.filter(Column("run_id") == runID).fetchAll(db))
        }
    }

    /// Attempts in the order they started (by id).
    private static func inOrder(_ attempts: [AttemptRecord]) -> [AttemptRecord] {
        var attempts = attempts
        if !zip(attempts, attempts.dropFirst()).allSatisfy({ ($0.id ?? 0) < ($1.id ?? 0) }) {
            attempts.sort { ($0.id ?? 0) < ($1.id ?? 0) }
        }
        return attempts
    }

    /// Marks attempts left `running` by a process that died as `aborted`, keeping their partial output.
    /// Returns how many there were.
    @discardableResult
    public func abortInFlightAttempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        let now = RunStore.now()
        return try write { db in
            let running = try AttemptRecord.filter(Column("run_id") == runID && Column("status") == AttemptStatus.running).fetchAll(db)
            for var attempt in running {
                attempt.status = .aborted
                attempt.error = "the process running this attempt stopped before it finished"
                try attempt.update(db)
                var event = EventRecord(
                    id: nil, runID: runID, at: now, kind: .attemptAborted, stage: attempt.stage, attemptID: attempt.id, payload: nil)
                try event.insert(db)
            }
            return running
        }
    }

    /// Copies completed and skipped attempts of `stages` from one run to another (for `baton rerun`), with the
    /// events that say why a stage was skipped, which branch a router chose and which items a fan-out stage
    /// pinned, so the rerun keeps the decisions.
    private static func copyCompletedAttempts(_ db: Database, from source: String, to target: String, stages: Set<String>) throws {
        // In the order they ran (SQLite walks the (run, stage, round) index; sorted here, see above).
        let reused = [AttemptStatus.completed, AttemptStatus.skipped]
        let completed = AttemptRecord.filter(Column("run_id") == source && reused.contains(Column("status")))
        let attempts = inOrder(try completed.fetchAll(db))
        for var attempt in attempts where stages.contains(attempt.stage) {
            attempt.id = nil
            attempt.runID = target
            try attempt.insert(db)
        }
        let decisions = EventRecord.filter(
            Column("run_id") == source
                && [EventKind.stageSkipped, EventKind.routeChosen, EventKind.itemsExpanded].contains(Column("kind"))
        ).order(Column("id"))
        for var event in try decisions.fetchAll(db) where event.stage.map(stages.contains) == true {
            event.id = nil
            event.runID = target
            event.attemptID = nil
            try event.insert(db)
        }
    }

    // MARK: - Events

    /// Appends an event.
    public func appendEvent(
        _ runID: String, kind: EventKind, stage: String? = nil, attemptID: Int64? = nil, payload: String? = nil
    ) throws(StoreError) {
        try write { db in
            var event = EventRecord(
                id: nil, runID: runID, at: RunStore.now(), kind: kind, stage: stage, attemptID: attemptID, payload: payload)
            try event.insert(db)
        }
    }

    /// A run's events, in order.
    public func events(_ runID: String) throws(StoreError) -> [EventRecord] {
        try read { db in
            try EventRecord.filter(Column("run_id") == runID).order(Column("id")).fetchAll(db)
        }
    }

    /// A run's events of one kind, oldest first.
    public func events(_ runID: String, kind: EventKind) throws(StoreError) -> [EventRecord] {
        try read { db in
            try EventRecord.filter(Column("run_id") == runID && Column("kind") == kind).order(Column("id")).fetchAll(db)
        }
    }

    // MARK: - Integrity

    /// `PRAGMA integrity_check`'s answer (`ok` when the file is sound).
    public func integrityCheck() throws(StoreError) -> String {
        try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "\n") }
    }
}
