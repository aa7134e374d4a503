import Foundation
import PostgresNIO

extension PostgresRunStore {
    /// Replaces the recording of `key` with `records` (in the order they were answered), in one transaction, so a
    /// recording is never half old and half new.
    public func replaceCassettes(_ key: CassetteKey, with records: [CassetteRecord], runID: String?) throws(StoreError) {
        let now = RunStore.now()
        let keyBinds: [PostgresValue] = [.text(key.suite), .text(key.caseName), .text(key.variant), .integer(key.repetition)]
        try write { session in
            try session.execute("DELETE FROM cassettes WHERE suite = $1 AND case_name = $2 AND variant = $3 AND repetition = $4", keyBinds)
            for record in records {
                try session.execute(
                    """
                    INSERT INTO cassettes (suite, case_name, variant, repetition, kind, stage, item, round, turn, request_hash,
                    response, run_id, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                    """,
                    keyBinds + [
                        .text(record.kind.rawValue), .text(record.stage), .integer(record.item), .integer(record.round),
                        .integer(record.turn), .text(record.requestHash), .text(record.response), .text(runID), .real(now),
                    ])
            }
        }
    }

    /// The recording of `key`, in the order it was answered (empty when there is none).
    public func cassettes(_ key: CassetteKey) throws(StoreError) -> [CassetteRecord] {
        try read { session in
            try session.query(
                """
                SELECT kind, stage, item, round, turn, request_hash, response FROM cassettes
                WHERE suite = $1 AND case_name = $2 AND variant = $3 AND repetition = $4 ORDER BY id
                """, [.text(key.suite), .text(key.caseName), .text(key.variant), .integer(key.repetition)]
            ).map { row in
                let (kind, stage, item, round, turn, hash, response) = try row.decode(
                    (String, String, Int?, Int, Int?, String, String).self)
                return CassetteRecord(
                    kind: CassetteRecord.Kind(rawValue: kind) ?? .generation, stage: stage, item: item, round: round, turn: turn,
                    requestHash: hash, response: response)
            }
        }
    }

    /// The variants a case of `suite` was recorded on, sorted, with the repetitions each has.
    public func cassetteVariants(suite: String, caseName: String) throws(StoreError) -> [String: [Int]] {
        let rows = try read { session in
            try session.query(
                // COLLATE "C": byte order, as SQLite sorts text.
                """
                SELECT DISTINCT variant COLLATE "C" AS variant, repetition FROM cassettes WHERE suite = $1 AND case_name = $2
                ORDER BY 1, 2
                """, [.text(suite), .text(caseName)]
            ).map { try $0.decode((String, Int).self) }
        }
        var variants: [String: [Int]] = [:]
        for (variant, repetition) in rows { variants[variant, default: []].append(repetition) }
        return variants
    }
}
