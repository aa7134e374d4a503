import Foundation
import GRDB

/// Which recording a cassette belongs to: a test file, one of its cases, the models it ran on and the repetition.
public struct CassetteKey: Sendable, Hashable {
    /// The test file's absolute path.
    public var suite: String
    /// The case's name.
    public var caseName: String
    /// The variant the case was recorded on (``TestCaseResult/variant``).
    public var variant: String
    /// The repetition, from 1.
    public var repetition: Int

    /// Creates a key.
    public init(suite: String, caseName: String, variant: String, repetition: Int) {
        self.suite = suite
        self.caseName = caseName
        self.variant = variant
        self.repetition = repetition
    }
}

/// One recorded answer (a row of `cassettes`, migration v8): a model call or an embedding request.
public struct CassetteRecord: Sendable, Hashable {
    /// `generation` or `embedding`.
    public enum Kind: String, Sendable, Hashable {
        case generation, embedding
    }

    /// What was asked.
    public var kind: Kind
    /// The stage asking (empty for an embedding request, which is matched by its hash alone).
    public var stage: String
    /// The fan-out item, from 0.
    public var item: Int?
    /// The critic-loop round, from 1 (0 for an embedding request).
    public var round: Int
    /// The tool-loop turn, from 1; nil outside tool loops.
    public var turn: Int?
    /// SHA-256 of the request (``CassetteRequest``), so a changed prompt is noticed on replay.
    public var requestHash: String
    /// The answer as JSON (``CassetteAnswer``, or the vectors of an embedding request).
    public var response: String

    /// Creates a record.
    public init(kind: Kind, stage: String, item: Int?, round: Int, turn: Int?, requestHash: String, response: String) {
        self.kind = kind
        self.stage = stage
        self.item = item
        self.round = round
        self.turn = turn
        self.requestHash = requestHash
        self.response = response
    }
}

extension SQLiteRunStore {
    /// Replaces the recording of `key` with `records` (in the order they were answered), in one transaction, so a
    /// recording is never half old and half new.
    public func replaceCassettes(_ key: CassetteKey, with records: [CassetteRecord], runID: String?) throws(StoreError) {
        let now = RunStore.now()
        try write { db in
            try db.execute(
                sql: "DELETE FROM cassettes WHERE suite = ? AND case_name = ? AND variant = ? AND repetition = ?",
                arguments: [key.suite, key.caseName, key.variant, key.repetition])
            for record in records {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO cassettes (suite, case_name, variant, repetition, kind, stage, item, round, turn,
                        request_hash, response, run_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: [
                    key.suite, key.caseName, key.variant, key.repetition, record.kind.rawValue, record.stage, record.item,
                    record.round, record.turn, record.requestHash, record.response, runID, now,
                ])
            }
        }
    }

    /// The recording of `key`, in the order it was answered (empty when there is none).
    public func cassettes(_ key: CassetteKey) throws(StoreError) -> [CassetteRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT kind, stage, item, round, turn, request_hash, response FROM cassettes
                    WHERE suite = ? AND case_name = ? AND variant = ? AND repetition = ? ORDER BY id
                    """, arguments: [key.suite, key.caseName, key.variant, key.repetition]
            ).map { row in
                CassetteRecord(
                    kind: CassetteRecord.Kind(rawValue: row["kind"]) ?? .generation, stage: row["stage"], item: row["item"],
                    round: row["round"], turn: row["turn"], requestHash: row["request_hash"], response: row["response"])
            }
        }
    }

    /// The variants a case of `suite` was recorded on, sorted, with the repetitions each has.
    public func cassetteVariants(suite: String, caseName: String) throws(StoreError) -> [String: [Int]] {
        try read { db in
            var variants: [String: [Int]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT DISTINCT variant, repetition FROM cassettes WHERE suite = ? AND case_name = ? ORDER BY variant, repetition",
                arguments: [suite, caseName])
            {
                variants[row["variant"], default: []].append(row["repetition"])
            }
            return variants
        }
    }
}
