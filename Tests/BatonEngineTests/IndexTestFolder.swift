import BatonEngine
import BatonSpec
import Foundation

/// A scratch folder for index tests (sources and index files), removed when the value goes away.
final class IndexTestFolder: @unchecked Sendable {
    let path = NSTemporaryDirectory() + "baton-index-\(UUID().uuidString.prefix(8))"

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit {
        // Give back permissions a test took away, so the folder can be removed.
        if let names = FileManager.default.enumerator(atPath: path) {
            for case let name as String in names { chmod(path + "/" + name, 0o700) }
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `text` to `relative`, creating folders.
    func write(_ relative: String, _ text: String) throws {
        try write(relative, Data(text.utf8))
    }

    func write(_ relative: String, _ data: Data) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: full))
    }

    func remove(_ relative: String) throws {
        try FileManager.default.removeItem(atPath: path + "/" + relative)
    }

    /// An index of this folder's files matching `sources`.
    func index(
        _ sources: [String], exclude: [String] = [], chunk: ChunkSpec = ChunkSpec(by: .paragraph, size: 400, overlap: 0),
        batch: Int = 4, vector: VectorBackend = .exact, name: String = "docs"
    ) -> IndexPlan {
        IndexPlan(
            name: name, root: path, sources: sources, exclude: exclude, chunk: chunk,
            model: ResolvedModel(name: "minilm", runtime: "local", footprint: nil), batch: batch,
            path: path + "/.baton/\(name).sqlite", vector: vector)
    }
}
