import Foundation
import GRDB

extension RunStore {
    /// The text an attempt generated since its previous chunk, and where it goes in the output.
    public struct OutputChunk: Sendable, Hashable {
        /// The run of the attempt.
        public var runID: String
        /// The attempt's stage.
        public var stage: String
        /// The text generated since the previous chunk.
        public var text: String
        /// The output's length before `text`, in UTF-16 code units (a JavaScript string's length), so a page can
        /// place the delta without counting characters the way Swift does.
        public var offset: Int
        /// The fan-out item (from 0), nil outside fan-out.
        public var item: Int?

        /// Creates a chunk.
        public init(runID: String, stage: String, text: String, offset: Int, item: Int? = nil) {
            self.runID = runID
            self.stage = stage
            self.text = text
            self.offset = offset
            self.item = item
        }

        /// The event's payload: `{"item":N,"offset":"N","text":"..."}`, keys sorted like every other payload.
        var payload: String {
            struct Payload: Encodable {
                var item: Int?
                var offset: String
                var text: String
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(Payload(item: item, offset: String(offset), text: text))) ?? Data("{}".utf8)
            return String(decoding: data, as: UTF8.self)
        }
    }
}

/// The throttled save of an attempt in flight: its output so far and, for `baton serve`, the text generated since the
/// previous save as an `output-chunk` event, in one transaction so the event log and the attempt row never disagree.
extension SQLiteRunStore {
    /// Saves the output received so far of an attempt in flight and, when given, its `output-chunk` event, in one
    /// transaction.
    public func saveProgress(
        _ attemptID: Int64, output: String, firstTokenAt: Double?, thinking: String? = nil, chunk: RunStore.OutputChunk? = nil
    ) throws(StoreError) {
        let now = RunStore.now()
        try write { db in
            try db.execute(
                sql: "UPDATE attempts SET output = ?, first_token_at = ?, thinking = ? WHERE id = ?",
                arguments: [output, firstTokenAt, thinking, attemptID])
            if let chunk {
                try Self.insertEvent(
                    db, runID: chunk.runID, at: now, kind: .outputChunk, stage: chunk.stage, attemptID: attemptID, payload: chunk.payload)
            }
            killSwitch?.hit(.progressCommit)
        }
    }
}
