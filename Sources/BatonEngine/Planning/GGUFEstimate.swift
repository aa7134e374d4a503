import Foundation

/// What a GGUF file's header says about a model, and the memory it needs when loaded.
///
/// Reads only the header's key-value metadata (the GGUF format: magic `GGUF`, version, tensor count,
/// key-value count, then typed key-value pairs), never the weights.
public struct GGUFInfo: Sendable, Hashable {
    /// `general.architecture` (`gemma3`, `llama`, ...).
    public var architecture: String?
    /// `general.parameter_count` when the file records it, else the sum of its tensors' element counts.
    public var parameterCount: Int64?
    /// `general.name` (`Gemma 3 270m`).
    public var name: String? = nil
    /// `general.size_label` (`270M`, `8B`).
    public var sizeLabel: String? = nil
    /// `general.file_type`: the quantization as llama.cpp's `llama_ftype` number.
    public var fileType: Int? = nil
    /// `<arch>.context_length`: the trained context.
    public var contextLength: Int?
    /// `<arch>.block_count`: layers.
    public var blockCount: Int?
    /// `<arch>.embedding_length`.
    public var embeddingLength: Int?
    /// `<arch>.attention.head_count`.
    public var headCount: Int?
    /// `<arch>.attention.head_count_kv` (the largest, when it varies by layer).
    public var headCountKV: Int?
    /// `<arch>.attention.key_length` and `value_length`, when given (else embedding / heads).
    public var keyLength: Int?
    public var valueLength: Int?
    /// The file's size in bytes (the weights, to within the header).
    public var fileSize: Int64

    /// The quantization's name (`Q4_K_M`) from `general.file_type`, when it is one llama.cpp names.
    public var quantization: String? {
        guard let fileType else { return nil }
        let names: [Int: String] = [
            0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
            12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS",
            20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
            28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
        ]
        return names[fileType]
    }

    /// Bytes of an f16 KV cache for `contextSize` tokens.
    public func kvCacheBytes(contextSize: Int) -> Int64? {
        guard let layers = blockCount, let kvHeads = headCountKV ?? headCount else { return nil }
        let defaultHead = (embeddingLength ?? 0) / max(headCount ?? 1, 1)
        let perToken = Int64(kvHeads) * Int64((keyLength ?? defaultHead) + (valueLength ?? defaultHead)) * 2
        return Int64(layers) * Int64(contextSize) * perToken
    }

    /// The estimated footprint when loaded with `contextSize`: weights, KV cache, and 15 % (at least
    /// 128 MB) for compute buffers and the server process. For Gemma 3 270M at 2048 tokens this gives
    /// 419 MB; llama-server's process measured about 430 MB.
    public func estimatedFootprint(contextSize: Int) -> Int64 {
        let kv = kvCacheBytes(contextSize: contextSize) ?? 0
        return fileSize + kv + max(128_000_000, (fileSize + kv) * 15 / 100)
    }

    /// Reads the header of the GGUF file at `path`.
    ///
    /// - Throws: ``GGUFError`` when the file cannot be read or is not GGUF.
    public static func read(_ path: String) throws(GGUFError) -> GGUFInfo {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw GGUFError(message: "cannot open '\(path)'") }
        defer { try? handle.close() }
        // The size of the file itself, not of a symbolic link to it (llama-server's models folders are often links).
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let size = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? NSNumber)?.int64Value ?? 0
        // Metadata and tensor infos sit at the front; tokenizer arrays can make them several MB, so read 8 MB
        // first and 64 MB only when the header goes on past that.
        var data = Data()
        for limit in [8 * 1024 * 1024, 64 * 1024 * 1024] {
            data.append((try? handle.read(upToCount: limit - data.count)) ?? Data())
            let (info, ranOut) = try parse(data, path: path, fileSize: size)
            if !ranOut || data.count < limit || limit == 64 * 1024 * 1024 { return info }
        }
        return try parse(data, path: path, fileSize: size).info
    }

    /// The header in `data` (the start of the file), and whether it went on past the end of `data`.
    private static func parse(_ data: Data, path: String, fileSize size: Int64) throws(GGUFError) -> (info: GGUFInfo, ranOut: Bool) {
        var reader = Reader(data: data)
        guard reader.bytes(4) == Data("GGUF".utf8) else { throw GGUFError(message: "'\(path)' is not a GGUF file") }
        guard let version = reader.u32(), version >= 2, let tensorCount = reader.u64(), let count = reader.u64() else {
            throw GGUFError(message: "'\(path)' has an unsupported GGUF header")
        }
        var values: [String: Any] = [:]
        var readAll = true
        for _ in 0..<count {
            guard let key = reader.string(), let type = reader.u32(), let value = reader.value(type: type) else {
                readAll = false
                break
            }
            values[key] = value
        }
        // The tensor infos follow the metadata: name, dimensions, type, offset. Their element counts add up
        // to the parameter count, for files that do not record `general.parameter_count`.
        var countedParameters: Int64?
        if readAll, tensorCount < 1 << 20 {
            var total: Int64 = 0
            for _ in 0..<tensorCount {
                guard reader.string() != nil, let dimensions = reader.u32(), dimensions <= 8 else {
                    total = -1
                    break
                }
                var elements: Int64 = 1
                for _ in 0..<dimensions {
                    guard let size = reader.u64(), size < 1 << 40 else {
                        elements = -1
                        break
                    }
                    elements = elements.multipliedReportingOverflow(by: Int64(size)).partialValue
                }
                guard elements >= 0, reader.u32() != nil, reader.u64() != nil else {
                    total = -1
                    break
                }
                total += elements
            }
            if total > 0 { countedParameters = total }
        }
        func int(_ key: String) -> Int? {
            if let array = values[key] as? [Int64] { return array.max().map(Int.init) }
            return (values[key] as? Int64).map(Int.init)
        }
        let arch = values["general.architecture"] as? String
        let prefix = arch.map { "\($0)." } ?? ""
        let info = GGUFInfo(
            architecture: arch, parameterCount: values["general.parameter_count"] as? Int64 ?? countedParameters,
            name: values["general.name"] as? String, sizeLabel: values["general.size_label"] as? String,
            fileType: int("general.file_type"),
            contextLength: int(prefix + "context_length"), blockCount: int(prefix + "block_count"),
            embeddingLength: int(prefix + "embedding_length"), headCount: int(prefix + "attention.head_count"),
            headCountKV: int(prefix + "attention.head_count_kv"), keyLength: int(prefix + "attention.key_length"),
            valueLength: int(prefix + "attention.value_length"), fileSize: size)
        return (info, reader.ranOut)
    }

    /// Little-endian reads over the header bytes.
    private struct Reader {
        let data: Data
        var offset = 0
        /// Whether a read went past the end of `data`.
        var ranOut = false

        init(data: Data) { self.data = data }

        mutating func bytes(_ count: Int) -> Data? {
            guard count >= 0 else { return nil }
            guard offset + count <= data.count else {
                ranOut = true
                return nil
            }
            defer { offset += count }
            return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + count))
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard let raw = bytes(MemoryLayout<T>.size) else { return nil }
            return raw.reversed().reduce(T.zero) { ($0 << 8) | T(truncatingIfNeeded: $1) }
        }

        mutating func u32() -> UInt32? { integer(UInt32.self) }
        mutating func u64() -> UInt64? { integer(UInt64.self) }

        mutating func string() -> String? {
            guard let length = u64(), length < 1 << 24, let raw = bytes(Int(length)) else { return nil }
            return String(decoding: raw, as: UTF8.self)
        }

        /// A value of GGUF type `type`; integers come back as Int64, arrays of integers as [Int64].
        mutating func value(type: UInt32) -> Any? {
            switch type {
            case 0: return integer(UInt8.self).map { Int64($0) }
            case 1: return integer(Int8.self).map { Int64($0) }
            case 2: return integer(UInt16.self).map { Int64($0) }
            case 3: return integer(Int16.self).map { Int64($0) }
            case 4: return u32().map { Int64($0) }
            case 5: return integer(Int32.self).map { Int64($0) }
            case 6: return u32().map { Double(Float(bitPattern: $0)) }
            case 7: return integer(UInt8.self).map { $0 != 0 }
            case 8: return string()
            case 9:
                guard let elementType = u32(), let count = u64(), count < 1 << 26 else { return nil }
                var items: [Int64] = []
                for _ in 0..<count {
                    guard let item = value(type: elementType) else { return nil }
                    if let number = item as? Int64 { items.append(number) }
                }
                return items
            case 10: return u64().map { Int64(bitPattern: $0) }
            case 11: return integer(Int64.self)
            case 12: return u64().map { Double(bitPattern: $0) }
            default: return nil
            }
        }
    }
}

/// A GGUF file that could not be read.
public struct GGUFError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
