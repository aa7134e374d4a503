import BatonSpec

/// Where a model's memory footprint comes from, in order: what a runtime measured when it loaded the
/// model (kept in the run database), the profile's registry, an estimate from the model's GGUF file.
public enum FootprintSource: String, Sendable {
    case measured, registry, gguf

    /// The footprint of `model` for a stage with `contextSize`, and where it came from; nil when unknown.
    public static func resolve(
        _ model: ResolvedModel, key: ModelKey, contextSize: Int?, profile: ResolvedProfile?, measured: [ModelKey: Int64]
    ) -> (bytes: Int64, source: FootprintSource)? {
        if let bytes = measured[key] { return (bytes, .measured) }
        if let footprint = model.footprint { return (footprint.bytes, .registry) }
        if let file = profile?.spec.model(named: model.name)?.file, let info = try? GGUFInfo.read(file) {
            return (info.estimatedFootprint(contextSize: contextSize ?? info.contextLength ?? 2048), .gguf)
        }
        return nil
    }
}
