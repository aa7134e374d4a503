import Foundation

/// A JSON decoder for pinned run snapshots, several times faster than Foundation's `JSONDecoder` on the
/// plan of a large pipeline (a resume of 10,010 stages spent most of its time there).
///
/// It reads the text once into a flat array of tokens (no dictionary per object, no boxed values) and
/// then runs the types' own `Decodable` initialisers over those tokens, so it needs no knowledge of the
/// snapshot's types: a field added to `PlannedStage` or anywhere else decodes with nothing changed here.
/// It follows `JSONDecoder`'s default strategies for what it accepts; what it does not handle the way
/// `JSONDecoder` does (`Date`, `Data`, `URL`, `Decimal`, `Float`, numbers written with a fraction or an
/// exponent decoded as integers, `superDecoder`) it refuses with an error, and ``RunSnapshot/decode(_:)``
/// then decodes the text with `JSONDecoder`. The format on disk is unchanged.
enum SnapshotJSONDecoder {
    /// Decodes a `T` from JSON text.
    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        let document = try Document(text)
        return try document.value(T.self, at: 0)
    }

    /// Why the fast decoder gave up (the caller then falls back to `JSONDecoder`).
    struct Unsupported: Error, CustomStringConvertible {
        var description: String
    }
}

// MARK: - Tokens (the parser is in SnapshotJSONParser.swift)

private typealias Kind = SnapshotJSONDecoder.Kind
private typealias Token = SnapshotJSONDecoder.Token
private typealias Parser = SnapshotJSONDecoder.Parser

private final class Document {
    let bytes: UnsafeMutableBufferPointer<UInt8>
    var tokens: [Token] = []

    init(_ text: String) throws {
        var text = text
        let count = text.utf8.count
        guard count < Int(Int32.max) else { throw SnapshotJSONDecoder.Unsupported(description: "too large") }
        bytes = .allocate(capacity: max(count, 1))
        text.withUTF8 { source in
            if let base = source.baseAddress { bytes.baseAddress!.initialize(from: base, count: count) }
        }
        var parser = Parser(bytes: UnsafeBufferPointer(rebasing: bytes[0..<count]))
        parser.tokens.reserveCapacity(count / 12)
        try parser.parseDocument()
        tokens = parser.tokens
    }

    deinit { bytes.deallocate() }

    // MARK: Reading tokens

    @inline(__always) func kind(_ index: Int) -> Kind { tokens[index].kind }

    func mismatch(_ expected: String, at index: Int) -> DecodingError {
        DecodingError.typeMismatch(
            Any.self, .init(codingPath: path(to: index), debugDescription: "expected \(expected), found \(kind(index))"))
    }

    func string(at index: Int) throws -> String {
        let token = tokens[index]
        switch token.kind {
        case .string:
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)]), as: UTF8.self)
        case .escapedString:
            return try unescape(Int(token.start), Int(token.end))
        default:
            throw mismatch("a string", at: index)
        }
    }

    func bool(at index: Int) throws -> Bool {
        switch kind(index) {
        case .true: return true
        case .false: return false
        default: throw mismatch("a boolean", at: index)
        }
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type, at index: Int) throws -> I {
        let token = tokens[index]
        guard token.kind == .number else { throw mismatch("a number", at: index) }
        var position = Int(token.start)
        let end = Int(token.end)
        var negative = false
        if bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        guard position < end else { throw mismatch("a whole number", at: index) }
        var magnitude: UInt64 = 0
        while position < end {
            let digit = bytes[position] &- UInt8(ascii: "0")
            guard digit < 10 else {
                // A fraction or an exponent: JSONDecoder's rules for those are left to JSONDecoder.
                throw SnapshotJSONDecoder.Unsupported(description: "a number with a fraction or exponent as \(I.self)")
            }
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { throw SnapshotJSONDecoder.Unsupported(description: "a number out of range") }
            magnitude = sum
            position += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else {
                throw SnapshotJSONDecoder.Unsupported(description: "a number out of range")
            }
            let value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            guard let result = I(exactly: value) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: path(to: index), debugDescription: "\(value) does not fit in \(I.self)"))
            }
            return result
        }
        guard let result = I(exactly: magnitude) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: path(to: index), debugDescription: "\(magnitude) does not fit in \(I.self)"))
        }
        return result
    }

    func double(at index: Int) throws -> Double {
        let token = tokens[index]
        guard token.kind == .number else { throw mismatch("a number", at: index) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw SnapshotJSONDecoder.Unsupported(description: "the number \(text)")
        }
        return value
    }

    /// A `T` from the value at `index`.
    func value<T: Decodable>(_ type: T.Type, at index: Int) throws -> T {
        // The types JSONDecoder decodes its own way (and which no snapshot type uses today).
        if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            throw SnapshotJSONDecoder.Unsupported(description: "\(T.self)")
        }
        let token = tokens[index]
        if T.self == [String: String].self, token.kind == .object {
            // Dictionaries of text (the stage fingerprints, the source files) straight from the tokens.
            return try stringDictionary(at: index) as! T
        }
        if T.self == [String].self, token.kind == .array {
            // Lists of text (dependencies, stop sequences) straight from the tokens.
            return try stringArray(at: index) as! T
        }
        if token.kind == .array, token.count > 64, let array = T.self as? any ReservingDecodable.Type {
            // Long arrays (the plan's stages) decoded with their room reserved, not grown as they fill.
            return try array.decodeReserving(ValueDecoder(document: self, index: index)) as! T
        }
        guard token.kind == .object || token.kind == .array, token.end - token.start <= Self.largestShared,
            !(T.self is AnyObject.Type)
        else {
            return try T(from: ValueDecoder(document: self, index: index))
        }
        // Small objects and arrays repeat: every stage of a plan has its models, settings and output, mostly alike.
        // The same text decoded as the same type gives the same value (decoding looks at nothing else),
        // so each distinct one is decoded once. (Values only: a class would be one shared instance.)
        let key = SharedKey(
            type: ObjectIdentifier(T.self), base: UnsafePointer(bytes.baseAddress! + Int(token.start)), count: Int(token.end - token.start))
        if let known = shared[key] as? T { return known }
        let value = try T(from: ValueDecoder(document: self, index: index))
        shared[key] = value
        return value
    }

    private func stringArray(at array: Int) throws -> [String] {
        let count = Int(tokens[array].count)
        var result: [String] = []
        result.reserveCapacity(count)
        var element = array + 1
        for _ in 0..<count {
            result.append(try string(at: element))
            element = Int(tokens[element].next)
        }
        return result
    }

    private func stringDictionary(at object: Int) throws -> [String: String] {
        let count = Int(tokens[object].count)
        var result: [String: String] = [:]
        result.reserveCapacity(count)
        var keyIndex = object + 1
        for _ in 0..<count {
            // Of two equal keys the first one wins, as with JSONDecoder.
            let key = try string(at: keyIndex)
            if result[key] == nil { result[key] = try string(at: keyIndex + 1) }
            keyIndex = Int(tokens[keyIndex + 1].next)
        }
        return result
    }

    /// The longest object or array text (bytes) whose decoded value is shared.
    private static let largestShared: Int32 = 96
    /// Decoded small objects and arrays, by type and text.
    private var shared: [SharedKey: Any] = [:]

    /// Objects with many members (a dictionary such as the stage fingerprints), by object token: the index
    /// of each member's value by key, built at the first lookup.
    private var memberIndexes: [Int: [String: Int]] = [:]

    /// The member of object `object` called `key`: the index of its value.
    func member(_ key: some CodingKey, in object: Int) -> Int? {
        let count = Int(tokens[object].count)
        guard count > 0 else { return nil }
        var name = key.stringValue
        if count > 16 {
            if let index = memberIndexes[object] { return index[name] }
            var index: [String: Int] = [:]
            index.reserveCapacity(count)
            var keyIndex = object + 1
            for _ in 0..<count {
                // Of two equal keys the first one wins, as with JSONDecoder.
                if let text = try? string(at: keyIndex), index[text] == nil { index[text] = keyIndex + 1 }
                keyIndex = Int(tokens[keyIndex + 1].next)
            }
            memberIndexes[object] = index
            return index[name]
        }
        return name.withUTF8 { wanted -> Int? in
            // Of two equal keys the first one wins, as with JSONDecoder.
            var keyIndex = object + 1
            for _ in 0..<count {
                let token = tokens[keyIndex]
                if token.kind == .string {
                    let length = Int(token.end - token.start)
                    if length == wanted.count
                        && (length == 0 || memcmp(bytes.baseAddress! + Int(token.start), wanted.baseAddress!, length) == 0)
                    {
                        return keyIndex + 1
                    }
                } else if let text = try? string(at: keyIndex), text.utf8.elementsEqual(wanted) {
                    return keyIndex + 1
                }
                keyIndex = Int(tokens[keyIndex + 1].next)
            }
            return nil
        }
    }

    /// The coding path of the value at `index`, for error messages.
    func path(to index: Int) -> [any CodingKey] {
        var path: [any CodingKey] = []
        var current = 0
        while current != index {
            let token = tokens[current]
            var child = current + 1
            var found = false
            for position in 0..<Int(token.count) {
                let valueIndex = token.kind == .object ? child + 1 : child
                let end = Int(tokens[valueIndex].next)
                if index >= valueIndex && index < end {
                    path.append(
                        token.kind == .object
                            ? AnyCodingKey(stringValue: (try? string(at: child)) ?? "?")
                            : AnyCodingKey(intValue: position))
                    current = valueIndex
                    found = true
                    break
                }
                child = end
            }
            if !found { break }
        }
        return path
    }

    private func unescape(_ start: Int, _ end: Int) throws -> String {
        var result: [UInt8] = []
        result.reserveCapacity(end - start)
        var position = start
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= end else { throw SnapshotJSONDecoder.Unsupported(description: "a bad escape") }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = bytes[at + offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw SnapshotJSONDecoder.Unsupported(description: "a bad escape")
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while position < end {
            // The text up to the next escape, in one piece.
            var run = position
            while run < end && bytes[run] != UInt8(ascii: "\\") { run += 1 }
            if run > position {
                result.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[position..<run]))
                position = run
                continue
            }
            position += 1
            let escaped = bytes[position]
            position += 1
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): result.append(escaped)
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(position)
                position += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    guard position + 6 <= end, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                    else { throw SnapshotJSONDecoder.Unsupported(description: "a lone surrogate") }
                    let low = try hex4(position + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw SnapshotJSONDecoder.Unsupported(description: "a lone surrogate") }
                    position += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw SnapshotJSONDecoder.Unsupported(description: "a lone surrogate") }
                result.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw SnapshotJSONDecoder.Unsupported(description: "a bad escape")
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}

/// Arrays, which can reserve room for their elements before decoding them.
private protocol ReservingDecodable {
    static func decodeReserving(_ decoder: ValueDecoder) throws -> Self
}

extension Array: ReservingDecodable where Element: Decodable {
    fileprivate static func decodeReserving(_ decoder: ValueDecoder) throws -> Self {
        var container = try decoder.unkeyedContainer()
        var result: [Element] = []
        result.reserveCapacity(container.count ?? 0)
        while !container.isAtEnd { result.append(try container.decode(Element.self)) }
        return result
    }
}

/// A decoded type and the text it was decoded from.
private struct SharedKey: Hashable {
    var type: ObjectIdentifier
    var base: UnsafePointer<UInt8>
    var count: Int

    static func == (lhs: SharedKey, rhs: SharedKey) -> Bool {
        lhs.type == rhs.type && lhs.count == rhs.count && memcmp(lhs.base, rhs.base, lhs.count) == 0
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        hasher.combine(bytes: UnsafeRawBufferPointer(start: base, count: count))
    }
}

private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }
    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

// MARK: - Decoder

private struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let document: Document
    let index: Int

    var codingPath: [any CodingKey] { document.path(to: index) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard document.kind(index) == .object else { throw document.mismatch("an object", at: index) }
        return KeyedDecodingContainer(KeyedContainer<Key>(document: document, object: index))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard document.kind(index) == .array else { throw document.mismatch("an array", at: index) }
        return ArrayContainer(document: document, array: index)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { document.kind(index) == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try document.bool(at: index) }
    func decode(_ type: String.Type) throws -> String { try document.string(at: index) }
    func decode(_ type: Double.Type) throws -> Double { try document.double(at: index) }
    func decode(_ type: Float.Type) throws -> Float { throw SnapshotJSONDecoder.Unsupported(description: "Float") }
    func decode(_ type: Int.Type) throws -> Int { try document.integer(Int.self, at: index) }
    func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(Int8.self, at: index) }
    func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(Int16.self, at: index) }
    func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(Int32.self, at: index) }
    func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(Int64.self, at: index) }
    func decode(_ type: UInt.Type) throws -> UInt { try document.integer(UInt.self, at: index) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(UInt8.self, at: index) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(UInt16.self, at: index) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(UInt32.self, at: index) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(UInt64.self, at: index) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try document.value(T.self, at: index) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: Document
    let object: Int

    var codingPath: [any CodingKey] { document.path(to: object) }

    var allKeys: [Key] {
        var keys: [Key] = []
        var keyIndex = object + 1
        for _ in 0..<Int(document.tokens[object].count) {
            if let text = try? document.string(at: keyIndex), let key = Key(stringValue: text) { keys.append(key) }
            keyIndex = Int(document.tokens[keyIndex + 1].next)
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { document.member(key, in: object) != nil }

    private func find(_ key: Key) throws -> Int {
        guard let index = document.member(key, in: object) else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)"))
        }
        return index
    }

    /// The value of `key` when present and not null.
    private func present(_ key: Key) -> Int? {
        guard let index = document.member(key, in: object), document.kind(index) != .null else { return nil }
        return index
    }

    func decodeNil(forKey key: Key) throws -> Bool { document.kind(try find(key)) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try document.bool(at: find(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try document.string(at: find(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try document.double(at: find(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw SnapshotJSONDecoder.Unsupported(description: "Float") }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try document.integer(Int.self, at: find(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try document.integer(Int8.self, at: find(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try document.integer(Int16.self, at: find(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try document.integer(Int32.self, at: find(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try document.integer(Int64.self, at: find(key)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try document.integer(UInt.self, at: find(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try document.integer(UInt8.self, at: find(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try document.integer(UInt16.self, at: find(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try document.integer(UInt32.self, at: find(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try document.integer(UInt64.self, at: find(key)) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try document.value(T.self, at: find(key)) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key).map(document.bool(at:)) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key).map(document.string(at:)) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key).map(document.double(at:)) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
        try present(key).map { try document.integer(Int.self, at: $0) }
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try present(key).map { try document.value(T.self, at: $0) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(document: document, index: find(key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(document: document, index: find(key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { throw SnapshotJSONDecoder.Unsupported(description: "superDecoder") }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw SnapshotJSONDecoder.Unsupported(description: "superDecoder") }
}

private struct ArrayContainer: UnkeyedDecodingContainer {
    let document: Document
    let array: Int
    /// The token of the next element.
    var position: Int
    var currentIndex = 0
    let total: Int

    init(document: Document, array: Int) {
        self.document = document
        self.array = array
        position = array + 1
        total = Int(document.tokens[array].count)
    }

    var codingPath: [any CodingKey] { document.path(to: array) }
    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    /// The next element's token, moving past it.
    private mutating func next() throws -> Int {
        guard currentIndex < total else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end."))
        }
        let index = position
        position = Int(document.tokens[index].next)
        currentIndex += 1
        return index
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < total else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end."))
        }
        if document.kind(position) == .null {
            _ = try next()
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try document.bool(at: next()) }
    mutating func decode(_ type: String.Type) throws -> String { try document.string(at: next()) }
    mutating func decode(_ type: Double.Type) throws -> Double { try document.double(at: next()) }
    mutating func decode(_ type: Float.Type) throws -> Float { throw SnapshotJSONDecoder.Unsupported(description: "Float") }
    mutating func decode(_ type: Int.Type) throws -> Int { try document.integer(Int.self, at: next()) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(Int8.self, at: next()) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(Int16.self, at: next()) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(Int32.self, at: next()) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(Int64.self, at: next()) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try document.integer(UInt.self, at: next()) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(UInt8.self, at: next()) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(UInt16.self, at: next()) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(UInt32.self, at: next()) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(UInt64.self, at: next()) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try document.value(T.self, at: next()) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(document: document, index: next()).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(document: document, index: next()).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { throw SnapshotJSONDecoder.Unsupported(description: "superDecoder") }
}
