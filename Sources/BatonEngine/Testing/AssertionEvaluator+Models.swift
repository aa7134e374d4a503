import BatonSpec
import Foundation

/// The model-graded assertions: `similar` (cosine of two embeddings) and `judge` (a model scores the output against a
/// rubric). Both ask the repetition's runtimes, so a recording keeps their answers too.
extension AssertionEvaluator {
    /// The JSON a judge must answer with.
    static let judgeSchema: JSONValue = .object([
        ("type", .string("object")),
        (
            "properties",
            .object([
                ("score", .object([("type", .string("number")), ("minimum", .number(0)), ("maximum", .number(1))])),
                ("reason", .object([("type", .string("string"))])),
            ])
        ),
        ("required", .array([.string("score"), .string("reason")])),
    ])

    func similar(
        _ assertion: TestAssertion, stage: String, output: String, to text: String, threshold: Double, model: String?
    ) async -> AssertionResult {
        func result(_ status: TestStatus, _ message: String, score: Double? = nil) -> AssertionResult {
            AssertionResult(name: assertion.name, stage: stage, status: status, message: message, score: score)
        }
        guard let name = model ?? embeddingModel() else {
            return result(.error, "no embedding model: give similar.model (or declare an index or the model 'all-minilm' in the profile)")
        }
        let resolved = IndexPlanning.resolveModel(name, profile: snapshot.profile?.spec)
        let batch: EmbeddingBatch
        do {
            guard let embedder = try runtimes.runtime(for: resolved, snapshot: snapshot) as? any EmbeddingRuntime else {
                return result(.error, "the runtime of model '\(name)' cannot embed; give similar.model an embedding model")
            }
            batch = try await embedder.embed([output, text], model: resolved.name)
        } catch {
            return result(.error, "embedding model '\(name)' failed: \(error)")
        }
        guard batch.vectors.count == 2, let score = Self.cosine(batch.vectors[0], batch.vectors[1]) else {
            return result(.error, "embedding model '\(name)' did not answer with two vectors of one width")
        }
        let shown = String(format: "%.3f", score)
        return score >= threshold
            ? result(.passed, "stage '\(stage)' is \(shown) similar to the text (at least \(threshold))", score: score)
            : result(.failed, "stage '\(stage)' is only \(shown) similar to the text, below \(threshold)", score: score)
    }

    func judge(
        _ assertion: TestAssertion, stage: String, output: String, rubric: String, minScore: Double, model: String?
    ) async -> AssertionResult {
        func result(_ status: TestStatus, _ message: String, score: Double? = nil) -> AssertionResult {
            AssertionResult(name: assertion.name, stage: stage, status: status, message: message, score: score)
        }
        if mode == .echo || mode == .replay {
            return result(.skipped, "judge needs a real model; skipped on the \(mode == .echo ? "echo runtime" : "replay")")
        }
        guard let resolved = judgeModel(stage: stage) else {
            return result(.error, "no judge model: give judge.model, or models to the profile's role 'judge'")
        }
        if isEcho(resolved) { return result(.skipped, "judge needs a real model; '\(resolved.name)' is on the echo runtime") }
        var request = GenerationRequest(
            model: resolved.name,
            system: "You grade the output of one stage of a pipeline against a rubric. Answer only with JSON: "
                + "{\"score\": a number from 0 (fails the rubric) to 1 (meets it fully), \"reason\": one sentence}.",
            prompt: "Rubric:\n\(rubric)\n\nOutput to grade:\n\(output)",
            settings: StageSettings(temperature: 0, maxTokens: 512, timeout: 300), responseSchema: Self.judgeSchema,
            stage: stage, round: 1)
        request.item = nil
        var answer = ""
        do {
            let runtime = try runtimes.runtime(for: resolved, snapshot: snapshot)
            for try await event in runtime.generate(request) {
                if case .token(let text) = event { answer += text }
            }
        } catch {
            return result(.error, "judge model '\(resolved.name)' failed: \(error)")
        }
        guard let (score, reason) = Self.verdict(answer) else {
            return result(.error, "judge model '\(resolved.name)' did not answer with {score, reason}: \(answer.prefix(200))")
        }
        let shown = String(format: "%.2f", score)
        return score >= minScore
            ? result(.passed, "judge '\(resolved.name)' scored stage '\(stage)' \(shown) (at least \(minScore)): \(reason)", score: score)
            : result(.failed, "judge '\(resolved.name)' scored stage '\(stage)' \(shown), below \(minScore): \(reason)", score: score)
    }

    /// The model `similar` embeds with when it names none: the first index's, else the profile's `all-minilm`.
    func embeddingModel() -> String? {
        if let index = snapshot.plan.indexes?.first { return index.model.runtime.map { "\($0):\(index.model.name)" } ?? index.model.name }
        if let index = snapshot.profile?.spec.indexes?.first { return index.model }
        if snapshot.profile?.spec.model(named: "all-minilm") != nil { return "all-minilm" }
        return nil
    }

    /// The judge's model: the profile's role `judge`, else the stage's own first model.
    func judgeModel(stage: String) -> ResolvedModel? {
        if let first = snapshot.profile?.spec.role(named: "judge")?.models?.first {
            return IndexPlanning.resolveModel(first.text, profile: snapshot.profile?.spec)
        }
        return snapshot.plan.stage(named: stage)?.models.first
    }

    /// Whether `model` runs on the echo runtime in this run.
    func isEcho(_ model: ResolvedModel) -> Bool {
        let runtime = snapshot.forcedRuntime ?? model.runtime ?? "echo"
        return (snapshot.profile?.spec.runtime(named: runtime)?.kind ?? (runtime == "echo" ? .echo : nil)) == .echo
    }

    /// The score (clamped to 0...1) and reason of a judge's answer; the first `{` to the last `}`, so a model that
    /// wraps its JSON in prose or a code fence is still read.
    static func verdict(_ answer: String) -> (Double, String)? {
        guard let open = answer.firstIndex(of: "{"), let close = answer.lastIndex(of: "}"), open < close,
            case .success(let value) = parseJSON(String(answer[open...close]))
        else { return nil }
        let score: Double
        switch value["score"] {
        case .number(let number)?: score = number
        case .string(let text)?:
            guard let number = Double(text) else { return nil }
            score = number
        default: return nil
        }
        return (min(max(score, 0), 1), value["reason"]?.stringValue ?? "")
    }

    /// The cosine of two vectors of one width; nil for other widths or a zero vector.
    static func cosine(_ a: [Float], _ b: [Float]) -> Double? {
        guard a.count == b.count, !a.isEmpty else { return nil }
        var dot = 0.0
        var normA = 0.0
        var normB = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            normA += Double(x) * Double(x)
            normB += Double(y) * Double(y)
        }
        guard normA > 0, normB > 0 else { return nil }
        return dot / (normA.squareRoot() * normB.squareRoot())
    }
}
