import BatonEngine
import BatonSpec
import Foundation

/// Paths of the repository and of fixture files, and golden-file comparison.
public enum Fixtures {
    /// The repository's root folder.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `relative` below the repository root.
    public static func path(_ relative: String) -> String { repositoryRoot + "/" + relative }

    /// A workspace rooted at the repository, with its shipped pipelines and profiles and no user folders.
    public static func repositoryWorkspace(environment: [String: String] = [:]) -> Workspace {
        Workspace(
            pipelineDirectories: ["pipelines"], profileDirectories: ["profiles"], environment: environment,
            currentDirectory: repositoryRoot)
    }

    /// The `.yaml` files directly in `relativeFolder`, sorted.
    public static func yamlFiles(_ relativeFolder: String) -> [String] {
        Workspace.yamlFiles(in: path(relativeFolder)).map { String($0.dropFirst(repositoryRoot.count + 1)) }
    }

    /// Whether golden files should be rewritten instead of compared (`RECORD_SNAPSHOTS=1`).
    public static var isRecording: Bool { ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] != nil }

    /// Compares `actual` with the golden file at `relative`, or writes it when recording or when it is missing.
    /// Returns nil when they match, else a description of the difference.
    public static func compareGolden(_ actual: String, at relative: String) -> String? {
        let full = path(relative)
        if isRecording || !FileManager.default.fileExists(atPath: full) {
            try? actual.write(toFile: full, atomically: true, encoding: .utf8)
            return isRecording ? nil : "golden file \(relative) was missing and has been written; check it and run again"
        }
        let expected = (try? String(contentsOfFile: full, encoding: .utf8)) ?? ""
        guard expected != actual else { return nil }
        return "output differs from \(relative) (RECORD_SNAPSHOTS=1 rewrites it):\n--- expected\n\(expected)\n--- actual\n\(actual)"
    }
}
