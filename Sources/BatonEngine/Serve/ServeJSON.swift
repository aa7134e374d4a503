import Foundation

/// The JSON `baton serve` sends: attempts, events and run rows as objects, and the text of any object.
///
/// Attempts keep the representation `baton show --json` gives them (`timings` and `calls` as JSON text), so the page
/// reads an attempt the same way from the run document, the attempt route and the event stream; times are RFC 3339.
public enum ServeJSON {
    /// `value` as compact JSON with sorted keys, `<`, `>` and `&` written as `\u003c`, `\u003e` and `\u0026` so that
    /// no text from a run reads as markup even where a browser sniffs or a page embeds it (JSON parses them back).
    ///
    /// Written by hand, not with `JSONSerialization`: on Linux its sorted keys compare through `NSString` with a locale,
    /// which made replaying 10,000 events after a reconnect take 4.5 s of CPU per stream (90 % of it sorting keys).
    public static func text(_ value: Any) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        write(value, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `value` as JSON: objects with keys in byte order, strings with `<`, `>`, `&` and control characters
    /// escaped. Numbers that came from `JSONSerialization` (`NSNumber`) and anything unexpected go through it.
    static func write(_ value: Any, into bytes: inout [UInt8]) {
        switch value {
        case is NSNull:
            bytes.append(contentsOf: "null".utf8)
        case let string as String:
            writeString(string, into: &bytes)
        case let object as [String: Any]:
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(key, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                write(object[key]!, into: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        case let array as [Any]:
            bytes.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element, into: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case let optional as Any? where optional == nil:
            bytes.append(contentsOf: "null".utf8)
        default:
            // Exact Swift types first: an NSNumber also casts to Bool, Int and Double, so it is left to Foundation.
            if type(of: value) == Bool.self, let flag = value as? Bool {
                bytes.append(contentsOf: (flag ? "true" : "false").utf8)
            } else if type(of: value) == Int.self, let number = value as? Int {
                bytes.append(contentsOf: String(number).utf8)
            } else if type(of: value) == Int64.self, let number = value as? Int64 {
                bytes.append(contentsOf: String(number).utf8)
            } else if type(of: value) == Double.self, let number = value as? Double, number.isFinite {
                bytes.append(contentsOf: (number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)).utf8)
            } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) {
                bytes.append(contentsOf: data)
            } else {
                bytes.append(contentsOf: "null".utf8)
            }
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `string` as a JSON string literal.
    static func writeString(_ string: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `json` with `<`, `>` and `&` escaped; they can only stand inside strings in JSON, where the escapes mean the same.
    static func escapingMarkup(_ json: String) -> String {
        guard json.utf8.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&") }) else {
            return json
        }
        var result = ""
        result.reserveCapacity(json.utf8.count + 64)
        for character in json.unicodeScalars {
            switch character {
            case "<": result += "\\u003c"
            case ">": result += "\\u003e"
            case "&": result += "\\u0026"
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }

    /// `{"error": message}`.
    public static func error(_ message: String) -> String { text(["error": message]) }

    private static func value(_ optional: (some Any)?) -> Any { optional.map { $0 as Any } ?? NSNull() }

    private static func time(_ seconds: Double?) -> Any { seconds.map { JSONTime.string($0) as Any } ?? NSNull() }

    /// An attempt; `summary` leaves out `system`, `prompt`, `output`, `thinking` and `calls` (the event stream's form).
    public static func attempt(_ attempt: AttemptRecord, summary: Bool = false) -> [String: Any] {
        var object: [String: Any] = [
            "id": value(attempt.id), "run_id": attempt.runID, "stage": attempt.stage, "round": attempt.round, "try": attempt.tryNumber,
            "status": attempt.status.rawValue, "model": value(attempt.model), "runtime": value(attempt.runtime),
            "verdict": value(attempt.verdict), "feedback": value(attempt.feedback), "prompt_tokens": value(attempt.promptTokens),
            "output_tokens": value(attempt.outputTokens), "started_at": JSONTime.string(attempt.startedAt),
            "first_token_at": time(attempt.firstTokenAt), "finished_at": time(attempt.finishedAt), "timings": value(attempt.timings),
            "error": value(attempt.error), "fingerprint": attempt.fingerprint, "finish_reason": value(attempt.finishReason),
            "item": value(attempt.item), "turn": value(attempt.turn),
        ]
        if !summary {
            object["system"] = value(attempt.system)
            object["prompt"] = attempt.prompt
            object["output"] = attempt.output
            object["thinking"] = value(attempt.thinking)
            object["calls"] = value(attempt.calls)
        }
        return object
    }

    /// An event as the streams send it: the payload parsed (its text when it is not JSON), and for `attempt-*` kinds
    /// the attempt's summary when given.
    public static func event(_ event: EventRecord, attempt: AttemptRecord? = nil) -> [String: Any] {
        var payload: Any = NSNull()
        if let text = event.payload {
            payload = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
        }
        return [
            "id": value(event.id), "run_id": event.runID, "at": JSONTime.string(event.at), "kind": event.kind.rawValue,
            "stage": value(event.stage), "attempt_id": value(event.attemptID), "payload": payload,
            "attempt": attempt.map { Self.attempt($0, summary: true) as Any } ?? NSNull(),
        ]
    }

    /// Whether events of `kind` carry their attempt's summary.
    public static func carriesAttempt(_ kind: EventKind) -> Bool { kind.rawValue.hasPrefix("attempt-") }

    /// One row of `/api/runs`; `now` gives a running run's duration.
    public static func runRow(_ row: DashboardRunRow, now: Double = RunStore.now()) -> [String: Any] {
        let run = row.run
        let end = run.finishedAt ?? (run.status == .running ? now : run.updatedAt)
        return [
            "id": run.id, "pipeline": run.pipeline, "status": run.status.rawValue, "profile": value(row.profile),
            "created_at": JSONTime.string(run.createdAt), "updated_at": JSONTime.string(run.updatedAt),
            "finished_at": time(run.finishedAt), "duration_seconds": max(0, end - run.createdAt),
            "prompt_tokens": row.promptTokens, "output_tokens": row.outputTokens, "stages_total": row.stagesTotal,
            "stages_done": row.stagesDone, "current_stage": value(row.currentStage), "error": value(run.error),
            "parent_run_id": value(run.parentRunID), "lease_host": value(run.leaseHost),
        ]
    }
}
