import Foundation

/// An amount of memory in bytes, written in files as `14GB`, `512 MiB` or a bare number of bytes.
public struct ByteCount: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The number of bytes.
    public var bytes: Int64

    /// Creates a count of `bytes` bytes.
    public init(bytes: Int64) { self.bytes = bytes }

    /// The units a size may use, with their factors.
    static let units: [(suffix: String, factor: Double)] = [
        ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024), ("TiB", 1024 * 1024 * 1024 * 1024),
        ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
    ]

    /// Parses `14GB`, `1.5 GiB`, `512MiB` or `1048576`; nil when the text is not a size.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var number = Substring(trimmed)
        var factor = 1.0
        for unit in Self.units where trimmed.hasSuffix(unit.suffix) {
            number = trimmed.dropLast(unit.suffix.count)
            factor = unit.factor
            break
        }
        number = Substring(number.trimmingCharacters(in: .whitespaces))
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            number.filter({ $0 == "." }).count <= 1, number.first != ".", number.last != ".",
            let value = Double(number)
        else { return nil }
        let bytes = (value * factor).rounded()
        guard bytes < 9e18 else { return nil }
        self.bytes = Int64(bytes)
    }

    /// `9.8 GB`, `430 MB`, `512 B`: decimal units, at most one decimal.
    public var description: String {
        let value = Double(bytes)
        for (suffix, factor) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)] where value >= factor {
            let scaled = value / factor
            let rounded = (scaled * 10).rounded() / 10
            return rounded == rounded.rounded() ? "\(Int64(rounded)) \(suffix)" : "\(rounded) \(suffix)"
        }
        return "\(bytes) B"
    }

    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }
}

/// A memory budget: a fixed size, or `auto` (the machine's memory minus a reserve, decided at run time).
public enum MemoryBudget: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A fixed number of bytes.
    case fixed(ByteCount)
    /// Derived from the machine when a run starts.
    case auto

    /// The fixed size, or nil for `auto`.
    public var fixedSize: ByteCount? {
        if case .fixed(let size) = self { return size }
        return nil
    }

    public var description: String {
        switch self {
        case .fixed(let size): size.description
        case .auto: "auto"
        }
    }
}
