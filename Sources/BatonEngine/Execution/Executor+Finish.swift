import BatonSpec
import Foundation

extension Executor {
    /// Throws when how the generation stopped makes its answer unusable whatever it says: a refusal or a
    /// content filter, or the context window filling up. All are permanent: the same request would be
    /// refused again, and paid again. A cut at `max_tokens` is the caller's to judge: it depends on whether
    /// the answer can still be read.
    static func checkFinish(_ outcome: Generated, stage: PlannedStage, model: ResolvedModel) throws {
        guard let finish = outcome.finish else { return }
        let quoted = finish.detail.flatMap { $0.isEmpty ? nil : ": \"\(String($0.prefix(300)))\"" } ?? ""
        switch finish.kind {
        case .complete:
            return
        case .refused:
            throw RuntimeError(
                .refused,
                "model '\(model.name)' refused to answer stage '\(stage.name)' (\(finish.raw))\(quoted); change the prompt or the model",
                isTransient: false)
        case .filtered:
            throw RuntimeError(
                .refused,
                "the provider's content filter stopped the answer of model '\(model.name)' to stage '\(stage.name)' (\(finish.raw))\(quoted); change the prompt or the model",
                isTransient: false)
        case .contextExceeded:
            throw RuntimeError(
                .contextExceeded,
                "the answer of model '\(model.name)' to stage '\(stage.name)' filled the model's context window (\(finish.raw)); shorten the prompt or use a model with a larger context",
                isTransient: false)
        case .truncated:
            // Kept here; the caller fails a critic or JSON stage whose cut answer cannot be read.
            return
        }
    }

    /// The permanent error of a critic verdict or JSON answer cut at `max_tokens` so that it cannot be read,
    /// naming the limit, the thinking that used part of it, and the fix.
    static func truncation(_ outcome: Generated, stage: PlannedStage) -> RuntimeError {
        let limit = stage.settings.maxTokens.map { "max_tokens: \($0)" } ?? "its max_tokens"
        var thinking = ""
        if let tokens = outcome.thinkingTokens, tokens > 0 {
            thinking = "; \(tokens) of those tokens were thinking (set think: false, or raise max_tokens)"
        } else if let text = outcome.attempt.thinking, !text.isEmpty {
            thinking = "; the model spent part of them thinking (set think: false, or raise max_tokens)"
        }
        let what = stage.critic != nil ? "critic '\(stage.name)''s verdict" : "the JSON answer of stage '\(stage.name)'"
        return RuntimeError(
            .truncated,
            "\(what) was cut off at \(limit) (\(outcome.finish?.raw ?? "length")), so it cannot be read\(thinking); raise max_tokens for this stage",
            isTransient: false)
    }

    /// Critics answer with a verdict; JSON stages with their schema.
    static func responseSchema(for stage: PlannedStage) -> JSONValue? {
        if stage.critic != nil { return StageResult.verdictSchema }
        if stage.output.format == .json { return stage.output.schema ?? .object([("type", .string("object"))]) }
        return nil
    }
}
