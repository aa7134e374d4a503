/// How a stage runs more than once (docs/pipeline-format.md, "Fan-out" and "Voting"): once per item of a list
/// (`for_each`), or once per sample (`repeat`, a fan-out over the sample numbers 0…N-1 with seeds seed+0…seed+N-1).
///
/// Items are numbered from 0 in storage; templates see `item_index` from 1.
public struct FanOut: Sendable, Hashable, Codable {
    /// The `for_each` expression giving the list; nil for `repeat` (the item is the sample number).
    public var source: Expression?
    /// The item's name in the stage's templates and its critic's (`as`, default `item`).
    public var itemName: String
    /// The most items the list may have (for `repeat`, the sample count); more at run time fail the stage.
    public var maxItems: Int
    /// How many items may run at once (validation allows more than 1 only where it cannot break the budget).
    public var concurrency: Int
    /// For `repeat`: the number of samples.
    public var repeatCount: Int?
    /// For `vote`: the dotted path into each sample's JSON answer whose majority value wins (ties: the earliest sample).
    public var vote: String?

    /// The item name when the file gives none.
    public static let defaultItemName = "item"

    /// Creates a fan-out description.
    public init(source: Expression?, itemName: String, maxItems: Int, concurrency: Int, repeatCount: Int?, vote: String?) {
        self.source = source
        self.itemName = itemName
        self.maxItems = maxItems
        self.concurrency = concurrency
        self.repeatCount = repeatCount
        self.vote = vote
    }

    /// The vote's field as path segments (`["triage", "label"]`).
    public var votePath: [String]? { vote.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) } }
}
