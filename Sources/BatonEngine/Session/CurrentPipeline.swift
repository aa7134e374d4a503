import BatonSpec
import Foundation

/// The pipeline file a run came from, as it is now: whether it changed since the run pinned it, and the
/// current file compiled with the run's pinned profile (for `resume --use-current-pipeline`).
public struct CurrentPipeline: Sendable {
    /// Where the pipeline file is read.
    public let workspace: Workspace
    /// The run whose pinned snapshot is compared.
    public let report: RunReport
    /// Whether the file (or a prompt file) differs from the pinned snapshot.
    public let changed: Bool

    /// Reads the files `report` pinned again and compares them with the snapshot.
    public init(workspace: Workspace, report: RunReport) {
        self.workspace = workspace
        self.report = report
        // Read the pinned files again (their paths are absolute) and compare: no compile needed.
        var current: [String: String] = [:]
        for path in report.snapshot.sources.keys {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { current[path] = text }
        }
        changed = current.count != report.snapshot.sources.count || RunSnapshot.hash(current) != report.run.pipelineHash
    }

    /// A run that does not record its pipeline file cannot switch to the current one.
    public struct NoPipelineFile: Error, CustomStringConvertible, Sendable {
        /// The run.
        public var runID: String
        /// The message the command prints.
        public var description: String { "run \(runID) does not record its pipeline file" }
    }

    /// The current file compiled with the run's pinned profile, as a snapshot, with the compiler's warnings.
    ///
    /// - Throws: ``NoPipelineFile``; ``PipelineInvalid`` when the file now has errors; `WorkspaceError` when it is gone.
    public func compile() throws -> (snapshot: RunSnapshot, warnings: PipelineInvalid) {
        guard let path = report.snapshot.pipelinePath else { throw NoPipelineFile(runID: report.run.id) }
        let result = try workspace.compile(path: path, profile: report.snapshot.profile)
        guard let plan = result.plan else { throw PipelineInvalid(diagnostics: result.diagnostics, sources: result.sources) }
        var snapshot = RunSnapshot(
            plan: plan, profile: report.snapshot.profile,
            sources: Dictionary(result.sources.map { (workspace.absolute($0.key), $0.value.text) }) { first, _ in first },
            pipelinePath: path, forcedRuntime: report.snapshot.forcedRuntime)
        snapshot.fingerprints = Fingerprints.compute(plan, inputs: report.inputs)
        // The pinned profile's folders stay the run's; the current file's folder, and those of the pipelines it
        // calls (`uses:`), join them.
        snapshot.projectFolders = Array(
            Set(
                TrustCheck.folders(of: report.snapshot, workspace: workspace)
                    + workspace.projectFolders(of: [path] + result.calledFiles))
        ).sorted()
        return (snapshot, PipelineInvalid(diagnostics: result.diagnostics, sources: result.sources))
    }
}
