extension PostgresSchema {
    /// The core tables: SQLite's migrations v1 to v9-queue as one, with the same columns and indexes. Times are DOUBLE
    /// PRECISION seconds since 1970; whole numbers are BIGINT (Swift reads them as `Int` or `Int64` alike).
    static let core: [(id: String, sql: String)] = [
        (
            "core-1",
            """
            CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                pipeline TEXT NOT NULL,
                pipeline_path TEXT,
                pipeline_hash TEXT NOT NULL,
                snapshot TEXT NOT NULL,
                inputs TEXT NOT NULL,
                status TEXT NOT NULL,
                error TEXT,
                parent_run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
                rerun_from TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                finished_at DOUBLE PRECISION,
                lease_token TEXT,
                lease_pid BIGINT,
                lease_host TEXT,
                lease_heartbeat DOUBLE PRECISION,
                priority BIGINT NOT NULL DEFAULT 0,
                engine_version BIGINT NOT NULL DEFAULT 1,
                labels TEXT,
                lease_owner TEXT,
                lease_epoch BIGINT NOT NULL DEFAULT 0,
                lease_until DOUBLE PRECISION,
                recovery_attempts BIGINT NOT NULL DEFAULT 0
            );
            CREATE INDEX runs_on_pipeline ON runs (pipeline);
            CREATE INDEX runs_on_status ON runs (status);
            CREATE INDEX runs_queue ON runs (status, priority, created_at);
            CREATE INDEX runs_by_created ON runs (created_at);

            -- The pinned snapshot apart from the row that changes at every status change and heartbeat (SQLite v3).
            CREATE TABLE run_snapshots (
                run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
                snapshot TEXT NOT NULL
            );

            CREATE TABLE attempts (
                id BIGSERIAL PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                stage TEXT NOT NULL,
                round BIGINT NOT NULL,
                try BIGINT NOT NULL,
                status TEXT NOT NULL,
                model TEXT,
                runtime TEXT,
                system TEXT,
                prompt TEXT NOT NULL,
                output TEXT NOT NULL,
                verdict TEXT,
                feedback TEXT,
                prompt_tokens BIGINT,
                output_tokens BIGINT,
                started_at DOUBLE PRECISION NOT NULL,
                first_token_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                timings TEXT,
                error TEXT,
                fingerprint TEXT NOT NULL,
                finish_reason TEXT,
                thinking TEXT,
                item BIGINT,
                turn BIGINT,
                calls TEXT
            );
            CREATE INDEX attempts_by_run_stage ON attempts (run_id, stage, round, try);

            CREATE TABLE events (
                id BIGSERIAL PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                at DOUBLE PRECISION NOT NULL,
                kind TEXT NOT NULL,
                stage TEXT,
                attempt_id BIGINT,
                payload TEXT
            );
            CREATE INDEX events_by_run ON events (run_id, id);
            CREATE INDEX events_by_kind ON events (kind);

            CREATE TABLE model_footprints (
                runtime TEXT NOT NULL,
                model TEXT NOT NULL,
                bytes BIGINT NOT NULL,
                measured_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (runtime, model)
            );

            CREATE TABLE tool_calls (
                id BIGSERIAL PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                stage TEXT NOT NULL,
                item BIGINT,
                round BIGINT NOT NULL,
                turn BIGINT NOT NULL,
                call_index BIGINT NOT NULL,
                tool TEXT NOT NULL,
                arguments TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                effects TEXT NOT NULL,
                status TEXT NOT NULL,
                result TEXT,
                error TEXT,
                exit_code BIGINT,
                http_status BIGINT,
                stderr TEXT,
                started_at DOUBLE PRECISION NOT NULL,
                finished_at DOUBLE PRECISION
            );
            CREATE INDEX tool_calls_by_place ON tool_calls (run_id, stage, item, round, turn, call_index);

            CREATE TABLE cassettes (
                id BIGSERIAL PRIMARY KEY,
                suite TEXT NOT NULL,
                case_name TEXT NOT NULL,
                variant TEXT NOT NULL,
                repetition BIGINT NOT NULL,
                kind TEXT NOT NULL,
                stage TEXT NOT NULL,
                item BIGINT,
                round BIGINT NOT NULL,
                turn BIGINT,
                request_hash TEXT NOT NULL,
                response TEXT NOT NULL,
                run_id TEXT,
                recorded_at DOUBLE PRECISION NOT NULL
            );
            CREATE INDEX cassettes_by_case ON cassettes (suite, case_name, variant, repetition, stage);

            CREATE TABLE bench_results (
                id BIGSERIAL PRIMARY KEY,
                bench_id TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                role TEXT NOT NULL,
                model TEXT NOT NULL,
                runtime TEXT,
                cases BIGINT NOT NULL,
                passed BIGINT NOT NULL,
                judge_score DOUBLE PRECISION,
                ttft_ms DOUBLE PRECISION,
                prompt_tps DOUBLE PRECISION,
                generation_tps DOUBLE PRECISION,
                load_ms DOUBLE PRECISION,
                peak_rss_bytes BIGINT,
                run_ids TEXT NOT NULL,
                detail TEXT
            );
            CREATE INDEX bench_results_on_bench_id ON bench_results (bench_id);
            """
        )
    ]
}
