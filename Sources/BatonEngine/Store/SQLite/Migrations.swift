import GRDB

/// The run database's schema, as ordered migrations. Never edit a shipped migration: add a new one.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "runs") { t in
                t.primaryKey("id", .text)
                t.column("pipeline", .text).notNull().indexed()
                t.column("pipeline_path", .text)
                t.column("pipeline_hash", .text).notNull()
                t.column("snapshot", .text).notNull()
                t.column("inputs", .text).notNull()
                t.column("status", .text).notNull().indexed()
                t.column("error", .text)
                t.column("parent_run_id", .text).references("runs", onDelete: .setNull)
                t.column("rerun_from", .text)
                t.column("created_at", .double).notNull()
                t.column("updated_at", .double).notNull()
                t.column("finished_at", .double)
                t.column("lease_token", .text)
                t.column("lease_pid", .integer)
                t.column("lease_host", .text)
                t.column("lease_heartbeat", .double)
            }
            try db.create(table: "attempts") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .text).notNull().references("runs", onDelete: .cascade)
                t.column("stage", .text).notNull()
                t.column("round", .integer).notNull()
                t.column("try", .integer).notNull()
                t.column("status", .text).notNull()
                t.column("model", .text)
                t.column("runtime", .text)
                t.column("system", .text)
                t.column("prompt", .text).notNull()
                t.column("output", .text).notNull()
                t.column("verdict", .text)
                t.column("feedback", .text)
                t.column("prompt_tokens", .integer)
                t.column("output_tokens", .integer)
                t.column("started_at", .double).notNull()
                t.column("first_token_at", .double)
                t.column("finished_at", .double)
                t.column("timings", .text)
                t.column("error", .text)
                t.column("fingerprint", .text).notNull()
            }
            try db.create(index: "attempts_by_run_stage", on: "attempts", columns: ["run_id", "stage", "round", "try"])
            try db.create(table: "events") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .text).notNull().references("runs", onDelete: .cascade)
                t.column("at", .double).notNull()
                t.column("kind", .text).notNull()
                t.column("stage", .text)
                t.column("attempt_id", .integer)
                t.column("payload", .text)
            }
            try db.create(index: "events_by_run", on: "events", columns: ["run_id", "id"])
        }
        migrator.registerMigration("v2") { db in
            // Footprints runtimes measured at load (Ollama /api/ps), reused by later runs and `baton plan`.
            try db.create(table: "model_footprints") { t in
                t.column("runtime", .text).notNull()
                t.column("model", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("measured_at", .double).notNull()
                t.primaryKey(["runtime", "model"])
            }
        }
        migrator.registerMigration("v3") { db in
            // The pinned snapshot moves to a table of its own. SQLite rewrites a whole row on every UPDATE, and
            // a run's row changes at each status change and lease heartbeat: with the snapshot inside it
            // (3.6 MB for a 10,010-stage pipeline) each of those wrote the snapshot again, through the WAL and
            // then the checkpoint. `runs.snapshot` stays (empty) so the table keeps its shape.
            try db.create(table: "run_snapshots") { t in
                t.primaryKey("run_id", .text).references("runs", onDelete: .cascade)
                t.column("snapshot", .text).notNull()
            }
            try db.execute(sql: "INSERT INTO run_snapshots (run_id, snapshot) SELECT id, snapshot FROM runs")
            try db.execute(sql: "UPDATE runs SET snapshot = ''")
        }
        migrator.registerMigration("v4") { db in
            // Why each generation stopped (a reply cut at max_tokens is kept but marked), and a thinking
            // model's thinking, kept apart from the answer.
            try db.alter(table: "attempts") { t in
                t.add(column: "finish_reason", .text)
                t.add(column: "thinking", .text)
            }
        }
        migrator.registerMigration("v5") { db in
            // Fan-out (issue 11): an attempt of one item of a `for_each` or `repeat` stage names the item (from
            // 0); NULL outside fan-out, so attempts recorded before read as they did. The item list itself is
            // pinned as an `items-expanded` event.
            try db.alter(table: "attempts") { t in
                t.add(column: "item", .integer)
            }
        }
        migrator.registerMigration("v6") { db in
            // Tool calls (issue 12): a call's intent is committed before it runs and its result after, so resume
            // knows whether a call that may have changed the world finished (docs/tools.md). A tool stage's own call
            // is turn 0, call 0; a model's calls in a tool loop are numbered by turn and place.
            try db.create(table: "tool_calls") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .text).notNull().references("runs", onDelete: .cascade)
                t.column("stage", .text).notNull()
                t.column("item", .integer)
                t.column("round", .integer).notNull()
                t.column("turn", .integer).notNull()
                t.column("call_index", .integer).notNull()
                t.column("tool", .text).notNull()
                t.column("arguments", .text).notNull()
                t.column("idempotency_key", .text).notNull()
                t.column("effects", .text).notNull()
                t.column("status", .text).notNull()
                t.column("result", .text)
                t.column("error", .text)
                t.column("exit_code", .integer)
                t.column("http_status", .integer)
                t.column("stderr", .text)
                t.column("started_at", .double).notNull()
                t.column("finished_at", .double)
            }
            try db.create(
                index: "tool_calls_by_place", on: "tool_calls", columns: ["run_id", "stage", "item", "round", "turn", "call_index"])
        }
        migrator.registerMigration("v7") { db in
            // The tool loop's turns (issue 12): each model turn of a stage with `tools:` is an attempt numbered by
            // `turn` (from 1; NULL outside tool loops), and a turn that asked for calls keeps them in `calls` (JSON
            // `[{id, name, arguments}]`, NULL for a final answer), so a resume rebuilds the conversation from the store
            // and goes on from the first turn without an attempt, never asking the model again for a turn it answered.
            try db.alter(table: "attempts") { t in
                t.add(column: "turn", .integer)
                t.add(column: "calls", .text)
            }
        }
        migrator.registerMigration("v8") { db in
            // Cassettes (issue 14): `baton test --record` keeps each answer a real runtime gave a test case, so
            // `--replay` runs the case again offline. One row per model call (`kind` generation) or embedding request
            // (`kind` embedding), keyed by the test file, case, variant (the models a case ran on) and repetition, then
            // by the call's place; `request_hash` is the SHA-256 of what was asked, so a changed prompt is noticed, and
            // `response` the JSON answer (output, thinking, tool calls, finish, usage, or the vectors).
            try db.create(table: "cassettes") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("suite", .text).notNull()
                t.column("case_name", .text).notNull()
                t.column("variant", .text).notNull()
                t.column("repetition", .integer).notNull()
                t.column("kind", .text).notNull()
                t.column("stage", .text).notNull()
                t.column("item", .integer)
                t.column("round", .integer).notNull()
                t.column("turn", .integer)
                t.column("request_hash", .text).notNull()
                t.column("response", .text).notNull()
                t.column("run_id", .text)
                t.column("recorded_at", .double).notNull()
            }
            try db.create(
                index: "cassettes_by_case", on: "cassettes", columns: ["suite", "case_name", "variant", "repetition", "stage"])
            // Benchmarks (issue 14): one row per role and candidate model of a `baton bench`, with what it measured;
            // the figures a run's attempts and events give are also kept in `detail` (JSON) with the runs' ids.
            try db.create(table: "bench_results") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("bench_id", .text).notNull().indexed()
                t.column("created_at", .double).notNull()
                t.column("role", .text).notNull()
                t.column("model", .text).notNull()
                t.column("runtime", .text)
                t.column("cases", .integer).notNull()
                t.column("passed", .integer).notNull()
                t.column("judge_score", .double)
                t.column("ttft_ms", .double)
                t.column("prompt_tps", .double)
                t.column("generation_tps", .double)
                t.column("load_ms", .double)
                t.column("peak_rss_bytes", .integer)
                t.column("run_ids", .text).notNull()
                t.column("detail", .text)
            }
        }
        // Scale-out (issue 17): the queue, leases with fencing epochs, workers; then runtime pools. Each part keeps its
        // migrations in its own file.
        migrator.registerMigration("v9-queue") { db in
            try db.alter(table: "runs") { t in
                t.add(column: "priority", .integer).notNull().defaults(to: 0)
                t.add(column: "engine_version", .integer).notNull().defaults(to: 1)
                t.add(column: "labels", .text)
                t.add(column: "lease_owner", .text)
                t.add(column: "lease_epoch", .integer).notNull().defaults(to: 0)
                t.add(column: "lease_until", .double)
                t.add(column: "recovery_attempts", .integer).notNull().defaults(to: 0)
            }
            try db.create(index: "runs_queue", on: "runs", columns: ["status", "priority", "created_at"])
        }
        registerQueueMigrations(&migrator)
        registerPoolMigrations(&migrator)
        return migrator
    }
}
