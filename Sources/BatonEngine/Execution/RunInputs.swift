import BatonSpec
import Foundation
import Yams

/// The inputs of a run: given values checked against the pipeline's declared inputs, defaults applied.
public enum RunInputs {
    /// Checks `given` against `declared`, fills defaults, and returns the inputs of the run.
    ///
    /// An optional input without a default and without a value is left out (so `{{#inputs.x}}` sections
    /// do not render).
    /// - Throws: ``InputError`` listing every unknown and every missing input at once.
    public static func resolve(_ declared: [InputSpec], given: [String: String]) throws(InputError) -> [String: String] {
        let names = declared.map(\.name)
        let unknown = given.keys.filter { !names.contains($0) }.sorted()
        let missing = declared.filter { $0.required && $0.defaultValue == nil && given[$0.name] == nil }.map(\.name)
        guard unknown.isEmpty, missing.isEmpty else {
            throw InputError(unknown: unknown.map { ($0, Suggestion.closest(to: $0, in: names)) }, missing: missing, declared: declared)
        }
        var values: [String: String] = [:]
        for input in declared {
            if let value = given[input.name] ?? input.defaultValue { values[input.name] = value }
        }
        return values
    }

    /// Parses `key=value` arguments; the value may be empty, the key may not.
    public static func parse(assignments: [String]) throws(InputError) -> [String: String] {
        var values: [String: String] = [:]
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw InputError(message: "'--input \(assignment)' is not KEY=VALUE; write --input task=\"...\"")
            }
            values[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
        }
        return values
    }

    /// Reads a JSON or YAML file holding a mapping of input names to values (scalars only).
    ///
    /// The file is held to ``YAMLLimits/standard``: its size before it is read, its aliases and nesting before
    /// Yams builds any value (Yams would expand every alias into its own copy).
    public static func read(file path: String) throws(InputError) -> [String: String] {
        let limits = YAMLLimits.standard
        if let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int,
            let violation = limits.check(byteCount: size)
        {
            throw InputError(message: "the input file is refused: \(violation.message(file: path))")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError(message: "the input file '\(path)' could not be read")
        }
        if let violation = limits.check(text) {
            throw InputError(message: "the input file is refused: \(violation.message(file: path))")
        }
        let object: Any?
        do {
            object = try Yams.load(yaml: text)  // JSON is YAML
        } catch {
            throw InputError(message: "the input file '\(path)' is not valid JSON or YAML: \(error)")
        }
        guard let mapping = object as? [String: Any] else {
            throw InputError(message: "the input file '\(path)' must hold a mapping of input names to values")
        }
        var values: [String: String] = [:]
        for (key, value) in mapping {
            switch value {
            case let text as String: values[key] = text
            case let number as Int: values[key] = String(number)
            case let number as Double: values[key] = String(number)
            case let flag as Bool: values[key] = flag ? "true" : "false"
            default:
                throw InputError(message: "input '\(key)' in '\(path)' must be text or a number, not a list or mapping")
            }
        }
        return values
    }
}

/// Inputs that do not match the pipeline: unknown names, missing required ones, or unreadable values.
public struct InputError: Error, Sendable, CustomStringConvertible {
    /// The full message.
    public let description: String

    init(message: String) {
        description = message
    }

    init(unknown: [(String, String?)], missing: [String], declared: [InputSpec]) {
        var lines: [String] = []
        for (name, suggestion) in unknown {
            lines.append("unknown input '\(name)'" + (suggestion.map { "; did you mean '\($0)'?" } ?? ""))
        }
        for name in missing {
            let about = declared.first { $0.name == name }?.description.map { " (\($0))" } ?? ""
            lines.append("missing input '\(name)'\(about); give it with --input \(name)=VALUE")
        }
        let known = declared.map { $0.name + ($0.required && $0.defaultValue == nil ? "" : "?") }
        lines.append("the pipeline's inputs: \(known.isEmpty ? "none" : known.joined(separator: ", ")) (? = optional)")
        description = lines.joined(separator: "\n")
    }
}
