/// One machine of a runtime pool (`runtimes.NAME.hosts[i]`): where its server listens, the memory its models may take
/// at once, and labels stages may ask for.
public struct RuntimeHostSpec: Sendable, Hashable, Codable {
    /// The server's base URL.
    public var url: String
    /// The memory models resident on it at once may take.
    public var budget: ByteCount
    /// Labels (`gpu`, `large`), sorted, each once.
    public var labels: [String]

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case url, budget, labels
    }

    /// Creates a host.
    public init(url: String, budget: ByteCount, labels: [String] = []) {
        self.url = url
        self.budget = budget
        self.labels = Array(Set(labels)).sorted()
    }

    /// The runtime kinds a pool can be made of: servers Baton loads and unloads models on, whose memory it plans.
    public static let poolKinds: [RuntimeSpec.Kind] = [.ollama, .llamaServer]
}
