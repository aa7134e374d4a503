import Foundation

extension Executor {
    /// Continues the run `runID`; with `replacement` (`resume --use-current-pipeline`), first takes the run's lease
    /// and swaps its snapshot for `replacement`, marking the stages `superseded` so they run again.
    ///
    /// Only the process that holds the run may swap its snapshot: a live holder makes this throw
    /// `StoreError` `.leaseHeld` before anything changes.
    public func resume(
        _ runID: String, claim: LeaseClaim, replacing replacement: RunSnapshot?, superseding superseded: [String] = []
    ) async throws -> RunOutcome {
        if let replacement {
            let encoded = try replacement.encoded()
            try store.acquireLease(runID, claim: claim)
            try store.replaceSnapshot(runID, snapshot: encoded, pipelineHash: replacement.sourceHash, supersede: superseded)
        }
        return try await resume(runID, claim: claim)
    }
}
