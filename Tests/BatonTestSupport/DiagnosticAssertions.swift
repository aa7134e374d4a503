import BatonSpec
import Testing

/// What a diagnostic at a marker should be.
public struct DiagnosticSpec: CustomStringConvertible {
    /// The marker it sits at.
    public var marker: String
    /// Its code.
    public var code: String
    /// Its message, exactly; nil checks only the code and place.
    public var message: String?
    /// Error or warning.
    public var severity: Diagnostic.Severity

    /// Creates an expectation.
    public init(_ marker: String, code: String, message: String? = nil, severity: Diagnostic.Severity = .error) {
        self.marker = marker
        self.code = code
        self.message = message
        self.severity = severity
    }

    public var description: String { "\(marker) \(severity) [\(code)] \(message ?? "")" }
}

/// Compiles the marked pipeline and expects exactly the given diagnostics, each at its marker.
public func assertDiagnostics(
    _ marked: String, profile: ResolvedProfile? = nil, _ expected: [DiagnosticSpec],
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    let input = MarkedText(marked)
    let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "test.yaml", text: input.text))
    var remaining = result.diagnostics
    for spec in expected {
        guard let position = input.positions[spec.marker] else {
            Issue.record("marker \(spec.marker) is not in the input", sourceLocation: sourceLocation)
            continue
        }
        let index = remaining.firstIndex { diagnostic in
            diagnostic.code.rawValue == spec.code && diagnostic.severity == spec.severity
                && diagnostic.location?.line == position.line && diagnostic.location?.column == position.column
                && (spec.message == nil || diagnostic.message == spec.message)
        }
        if let index {
            remaining.remove(at: index)
        } else {
            let found = result.diagnostics.map {
                "\($0.location.map { "\($0.line):\($0.column)" } ?? "-") \($0.severity) [\($0.code)] \($0.message)"
            }
            Issue.record(
                "expected \(spec) at \(position.line):\(position.column); found:\n\(found.joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        }
    }
    for diagnostic in remaining {
        Issue.record(
            "unexpected diagnostic: \(diagnostic.location.map(\.description) ?? "-") [\(diagnostic.code)] \(diagnostic.message)",
            sourceLocation: sourceLocation)
    }
}

/// Compiles a pipeline that must be valid and returns its plan.
public func compileValid(
    _ text: String, profile: ResolvedProfile? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation
) -> ExecutionPlan? {
    let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "test.yaml", text: text))
    for diagnostic in result.diagnostics {
        Issue.record(
            "unexpected diagnostic: \(diagnostic.location.map(\.description) ?? "-") [\(diagnostic.code)] \(diagnostic.message)",
            sourceLocation: sourceLocation)
    }
    return result.plan
}
