import BatonSpec
import Foundation
import Yams

/// A test file's golden stage outputs (`__snapshots__/NAME.snap.yaml` beside `NAME.test.yaml`): for each case, each
/// completed stage's final output (a fan-out stage's items as `stage[0]`, ...), written as YAML block scalars, sorted,
/// with no times or run ids, so writing the same outputs twice gives the same bytes.
public struct SnapshotFile: Sendable, Hashable {
    /// Outputs by case name, then by stage (or `stage[item]`).
    public var cases: [String: [String: String]]

    /// An empty file.
    public init(cases: [String: [String: String]] = [:]) { self.cases = cases }

    /// Where the snapshots of the test file at `testFile` live.
    public static func path(forTestFile testFile: String) -> String {
        let folder = (testFile as NSString).deletingLastPathComponent
        var name = (testFile as NSString).lastPathComponent
        for suffix in [".test.yaml", ".test.yml", ".yaml", ".yml"] where name.hasSuffix(suffix) {
            name.removeLast(suffix.count)
            break
        }
        return ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("__snapshots__/\(name).snap.yaml")
    }

    /// Reads the file at `path`; an absent file is empty.
    ///
    /// - Throws: ``SnapshotFileError`` when the file exists but is not a snapshot file (the message names it and the fix).
    public static func read(_ path: String) throws -> SnapshotFile {
        guard FileManager.default.fileExists(atPath: path) else { return SnapshotFile() }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SnapshotFileError(message: "snapshot file '\(path)' could not be read; check its permissions")
        }
        return try parse(text, path: path)
    }

    /// Parses a snapshot file's text.
    static func parse(_ text: String, path: String) throws -> SnapshotFile {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .basic)
        } catch {
            throw SnapshotFileError(
                message: "snapshot file '\(path)' is not valid YAML (\(error)); delete it and run with --update-snapshots")
        }
        guard let root else { return SnapshotFile() }
        let problem = SnapshotFileError(
            message: "snapshot file '\(path)' must map case names to stages to outputs; delete it and run with --update-snapshots")
        guard case .mapping(let cases) = root else { throw problem }
        var result: [String: [String: String]] = [:]
        for (caseNode, stagesNode) in cases {
            guard let name = caseNode.scalar?.string, case .mapping(let stages) = stagesNode else { throw problem }
            var outputs: [String: String] = [:]
            for (stageNode, outputNode) in stages {
                guard let stage = stageNode.scalar?.string, let output = outputNode.scalar?.string else { throw problem }
                outputs[stage] = output
            }
            result[name] = outputs
        }
        return SnapshotFile(cases: result)
    }

    /// The file's text: cases and stages sorted (items by number), outputs as literal block scalars where YAML allows.
    public func text() throws -> String {
        let header = "# Stage outputs of echo runs, written by 'baton test --update-snapshots'; compared on every echo run.\n"
        guard !cases.isEmpty else { return header + "{}\n" }
        let mapping = Node.Mapping(
            cases.keys.sorted().map { name in
                let stages = cases[name] ?? [:]
                let pairs = stages.keys.sorted(by: Self.stageOrder).map { stage in
                    (Node.scalar(.init(stage)), Node.scalar(.init(stages[stage] ?? "", .implicit, .literal)))
                }
                return (Node.scalar(.init(name)), Node.mapping(.init(pairs)))
            })
        let body = try Yams.serialize(node: .mapping(mapping), indent: 2, width: -1, allowUnicode: true)
        return header + body
    }

    /// Writes the file at `path` (creating `__snapshots__`), unless it already holds exactly this text.
    public func write(to path: String) throws {
        let text = try text()
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), existing == text { return }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `plan` before `plan[0]` before `plan[1]` before `plan[10]` before `review`.
    static func stageOrder(_ lhs: String, _ rhs: String) -> Bool {
        let (lhsName, lhsItem) = split(lhs)
        let (rhsName, rhsItem) = split(rhs)
        if lhsName != rhsName { return lhsName < rhsName }
        return (lhsItem ?? -1) < (rhsItem ?? -1)
    }

    private static func split(_ key: String) -> (String, Int?) {
        guard key.hasSuffix("]"), let open = key.lastIndex(of: "["),
            let item = Int(key[key.index(after: open)..<key.index(before: key.endIndex)])
        else { return (key, nil) }
        return (String(key[..<open]), item)
    }

    /// The comparison of a case's outputs with its snapshot: one failed `snapshot` result per stage that differs (with
    /// a unified diff), or one passed result when every stage matches.
    static func compare(expected: [String: String], actual: [String: String], file: String) -> [AssertionResult] {
        var results: [AssertionResult] = []
        for stage in Set(expected.keys).union(actual.keys).sorted(by: stageOrder) {
            switch (expected[stage], actual[stage]) {
            case (let old?, let new?) where old != new:
                results.append(
                    AssertionResult(
                        name: "snapshot", stage: stage, status: .failed,
                        message: "stage '\(stage)' differs from its snapshot; if the change is intended, run with --update-snapshots",
                        diff: LineDiff.unified(expected: old, actual: new, expectedName: "snapshot", actualName: "output")))
            case (_?, nil):
                results.append(
                    AssertionResult(
                        name: "snapshot", stage: stage, status: .failed,
                        message: "stage '\(stage)' has a snapshot but did not complete in this run"))
            case (nil, let new?):
                results.append(
                    AssertionResult(
                        name: "snapshot", stage: stage, status: .failed,
                        message: "stage '\(stage)' completed but has no snapshot; run with --update-snapshots to add it",
                        diff: LineDiff.unified(expected: "", actual: new, expectedName: "snapshot", actualName: "output")))
            default:
                continue
            }
        }
        if results.isEmpty {
            results.append(
                AssertionResult(
                    name: "snapshot", stage: nil, status: .passed,
                    message: "\(expected.count) stage output\(expected.count == 1 ? "" : "s") match the snapshot in \(file)"))
        }
        return results
    }
}

/// A snapshot file that cannot be used.
public struct SnapshotFileError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and the fix.
    public var message: String
    public var description: String { message }
}
