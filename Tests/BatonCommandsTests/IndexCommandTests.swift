import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import GRDB
import Testing

/// A sandbox for the index commands: a copy of the golden retrieval corpus in `corpus/`, and `library.yaml` (the
/// sandbox folder is the pipeline search path) declaring the index `corpus` over it (the `ci` profile's `all-minilm`: the echo runtime's hashed-word vectors).
enum IndexSandbox {
    static let corpus = Fixtures.path("Tests/BatonCommandsTests/Fixtures/retrieval-corpus")

    /// Files the index at `path` holds now, read without taking a write lock; 0 before the file has its tables.
    static func filesIndexed(_ path: String) -> Int {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(1)
        guard FileManager.default.fileExists(atPath: path),
            let queue = try? DatabaseQueue(path: path, configuration: configuration)
        else { return 0 }
        return (try? queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM files") }) ?? 0
    }

    /// The files of the corpus (relative to `corpus/`), sorted.
    static var corpusFiles: [String] {
        let enumerator = FileManager.default.enumerator(atPath: corpus)
        var files: [String] = []
        while let next = enumerator?.nextObject() as? String {
            if next.hasPrefix("docs/") || next.hasPrefix("src/"), next.contains(".") { files.append(next) }
        }
        return files.sorted()
    }

    /// A sandbox whose folder is the pipeline search path (BATON_PIPELINE_PATH), with the corpus copied in.
    static func make(
        _ name: String, model: String = "all-minilm", batch: Int = 16, chunk: String = "{by: paragraph, size: 800, overlap: 100}"
    )
        throws -> RunSandbox
    {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_PIPELINE_PATH"] = sandbox.folder
        sandbox.environment["BATON_PROFILE"] = "ci"
        let target = sandbox.folder + "/corpus"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for folder in ["docs", "src"] {
            try FileManager.default.copyItem(atPath: corpus + "/" + folder, toPath: target + "/" + folder)
        }
        try writeLibrary(sandbox, model: model, batch: batch, chunk: chunk)
        return sandbox
    }

    /// Writes `library.yaml`: index `corpus` over `corpus/**/*` and one retrieve stage.
    static func writeLibrary(
        _ sandbox: RunSandbox, model: String = "all-minilm", batch: Int = 16, chunk: String = "{by: paragraph, size: 800, overlap: 100}",
        sources: String = "[\"corpus/**/*\"]", file: String = "library.yaml", name: String = "corpus"
    ) throws {
        try """
        version: 1
        name: \((file as NSString).deletingPathExtension)
        inputs:
          question: {description: What to look for.}
        indexes:
          \(name):
            sources: \(sources)
            chunk: \(chunk)
            embed: {model: \(model), batch: \(batch)}
        stages:
          facts:
            retrieve: {index: \(name), query: "{{inputs.question}}", top_k: 3}
        """.write(toFile: sandbox.folder + "/" + file, atomically: true, encoding: .utf8)
    }

    /// `baton index ARGS --json` (the profile: the sandbox's `BATON_PROFILE`), parsed.
    static func index(_ sandbox: RunSandbox, _ arguments: [String] = ["corpus"], _ extra: [String: String] = [:]) async throws
        -> (result: BatonProcess.Result, summary: [String: Any])
    {
        let result = try await sandbox.baton(["index"] + arguments + ["--json"], extra)
        let summary = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        return (result, summary)
    }

    /// `baton search corpus QUERY --json` with `arguments` added, parsed.
    static func search(_ sandbox: RunSandbox, _ query: String, _ arguments: [String] = []) async throws
        -> (result: BatonProcess.Result, document: [String: Any])
    {
        let result = try await sandbox.baton(["search", "corpus", query, "--json"] + arguments)
        let document = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        return (result, document)
    }

    /// The default index file of the sandbox's run database.
    static func indexFile(_ sandbox: RunSandbox, _ name: String = "corpus") -> String {
        sandbox.folder + "/indexes/\(name).sqlite"
    }

    /// Runs `baton arguments`, SIGKILLing it when it has not ended within `seconds` (a hang is a failure, not a stuck suite).
    static func runWithin(_ seconds: Double, _ sandbox: RunSandbox, _ arguments: [String]) async throws -> (
        BatonProcess.Result, timedOut: Bool
    ) {
        let running = try sandbox.start(arguments)
        let deadline = Date().addingTimeInterval(seconds)
        while running.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let timedOut = running.isRunning
        if timedOut { running.send(SIGKILL) }
        return (await running.wait(), timedOut)
    }
}

/// `baton index`, `baton search` and `baton indexes` through the real binary on the echo runtime: a build, incremental
/// updates that embed only what changed, refusals with their exit codes, bad input, and a SIGKILL mid-update.
@Suite struct IndexCommandTests {
    static let fileCount = IndexSandbox.corpusFiles.count

    @Test("index builds every file, then embeds nothing when nothing changed, only a changed file's chunks, and drops a removed file")
    func incrementalUpdates() async throws {
        let sandbox = try IndexSandbox.make("index-incremental")
        let first = try await IndexSandbox.index(sandbox)
        try #require(first.result.status == 0, "\(first.result.summary)")
        #expect(first.summary["added"] as? Int == Self.fileCount, "\(first.summary)")
        let total = try #require(first.summary["chunks_embedded"] as? Int)
        #expect(total >= Self.fileCount)
        #expect(first.summary["file"] as? String == IndexSandbox.indexFile(sandbox))
        #expect(FileManager.default.fileExists(atPath: IndexSandbox.indexFile(sandbox)))

        // Nothing changed: nothing embedded.
        let again = try await IndexSandbox.index(sandbox)
        #expect(again.result.status == 0, "\(again.result.summary)")
        #expect(again.summary["unchanged"] as? Int == Self.fileCount, "\(again.summary)")
        #expect(again.summary["added"] as? Int == 0 && again.summary["changed"] as? Int == 0)
        #expect(again.summary["chunks_embedded"] as? Int == 0, "\(again.summary)")

        // One file changed: only its chunks.
        let changed = sandbox.folder + "/corpus/docs/caching.md"
        let text =
            try String(contentsOfFile: changed, encoding: .utf8)
            + "\n## Warming\n\nAfter a deploy, `quill cache warm` fills the cache with the most read pages.\n"
        try text.write(toFile: changed, atomically: true, encoding: .utf8)
        let expected = Chunker.chunks(of: text, source: "docs/caching.md", spec: ChunkSpec(by: .paragraph, size: 800, overlap: 100)).count
        let update = try await IndexSandbox.index(sandbox)
        #expect(update.result.status == 0, "\(update.result.summary)")
        #expect(update.summary["changed"] as? Int == 1 && update.summary["unchanged"] as? Int == Self.fileCount - 1, "\(update.summary)")
        #expect(update.summary["chunks_embedded"] as? Int == expected, "\(update.summary)")

        // The new words are found, in the changed file.
        let found = try await IndexSandbox.search(sandbox, "cache warm deploy", ["--mode", "keyword", "--top-k", "1"])
        let hits = found.document["results"] as? [[String: Any]] ?? []
        #expect(hits.first?["source"] as? String == "corpus/docs/caching.md", "\(found.result.summary)")

        // A removed file leaves the index.
        try FileManager.default.removeItem(atPath: sandbox.folder + "/corpus/docs/email.md")
        let removal = try await IndexSandbox.index(sandbox)
        #expect(removal.summary["removed"] as? Int == 1 && removal.summary["chunks_embedded"] as? Int == 0, "\(removal.result.summary)")
        let gone = try await IndexSandbox.search(sandbox, "SMTP relay bounce", ["--mode", "keyword"])
        let sources = (gone.document["results"] as? [[String: Any]] ?? []).compactMap { $0["source"] as? String }
        #expect(!sources.contains("corpus/docs/email.md"), "\(sources)")

        // The text summary says the same in words.
        let plain = try await sandbox.baton(["index", "corpus", "--profile", "ci"])
        #expect(plain.status == 0, "\(plain.summary)")
        #expect(
            plain.stdout.hasPrefix(
                "index corpus: \(Self.fileCount - 1) files (0 added, 0 changed, 0 removed, \(Self.fileCount - 1) unchanged), 0 chunks embedded with echo:all-minilm in "
            ), "\(plain.stdout)")
        #expect(plain.stdout.contains("file: \(IndexSandbox.indexFile(sandbox))\n"), "\(plain.stdout)")
    }

    @Test("search prints [n] path:line-end score and the text; --json gives the chunks, the fingerprint and the timings")
    func searchOutput() async throws {
        let sandbox = try IndexSandbox.make("index-search")
        try #require(try await IndexSandbox.index(sandbox).result.status == 0)

        let keyword = try await IndexSandbox.search(sandbox, "Argon2id password hashing salt", ["--mode", "keyword", "--top-k", "2"])
        try #require(keyword.result.status == 0, "\(keyword.result.summary)")
        let hits = try #require(keyword.document["results"] as? [[String: Any]])
        #expect(hits.count == 2)
        let first = try #require(hits.first)
        #expect(first["source"] as? String == "corpus/src/password_hash.rs", "\(hits)")
        #expect(first["n"] as? Int == 1 && first["id"] is Int && (first["line"] as? Int ?? 0) >= 1, "\(first)")
        #expect((first["end_line"] as? Int ?? 0) >= (first["line"] as? Int ?? 1))
        #expect((first["text"] as? String)?.contains("Argon2id") == true)
        #expect(keyword.document["mode"] as? String == "keyword" && keyword.document["top_k"] as? Int == 2)
        let timings = try #require(keyword.document["timings"] as? [String: Double])
        #expect(timings["embed_ms"] == 0, "keyword search embeds nothing: \(timings)")
        #expect(timings["search_ms"] != nil)
        let fingerprint = try #require(keyword.document["fingerprint"] as? [String: Any])
        #expect(fingerprint["model"] as? String == "all-minilm" && fingerprint["dimensions"] as? Int == 384, "\(fingerprint)")

        // Hybrid (the default) embeds the query and ranks by fusion; the cosine is given beside the score.
        let hybrid = try await IndexSandbox.search(sandbox, "Argon2id password hashing salt")
        #expect(hybrid.result.status == 0, "\(hybrid.result.summary)")
        let fused = try #require((hybrid.document["results"] as? [[String: Any]])?.first)
        #expect(fused["similarity"] is Double, "\(fused)")
        #expect(((hybrid.document["timings"] as? [String: Double])?["embed_ms"] ?? -1) >= 0)

        let text = try await sandbox.baton([
            "search", "corpus", "Argon2id password hashing", "--profile", "ci", "--mode", "vector", "--top-k", "1",
        ])
        #expect(text.status == 0, "\(text.summary)")
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first?.hasPrefix("[1] corpus/src/password_hash.rs:") == true, "\(text.stdout)")
        #expect(lines.count > 1 && lines[1].hasPrefix("    "), "\(text.stdout)")

        // Bad options are usage errors.
        for arguments in [["--top-k", "0"], ["--top-k", "101"], ["--mode", "fuzzy"], ["--min-score", "2"]] {
            let bad = try await sandbox.baton(["search", "corpus", "x", "--profile", "ci"] + arguments)
            #expect(bad.status == 64, "\(arguments): \(bad.summary)")
        }
        let empty = try await sandbox.baton(["search", "corpus", "  ", "--profile", "ci"])
        #expect(empty.status == 64 && empty.stderr.contains("the query is empty"), "\(empty.summary)")
    }

    @Test("indexes lists each declared index: not built, then fresh with its sizes, then stale after an edit")
    func indexesStates() async throws {
        let sandbox = try IndexSandbox.make("index-list")
        func listed() async throws -> [String: Any] {
            let result = try await sandbox.baton(["indexes", "--profile", "ci", "--json"])
            try #require(result.status == 0, "\(result.summary)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            return try #require(rows.first { $0["name"] as? String == "corpus" }, "\(rows)")
        }
        let before = try await listed()
        #expect(before["state"] as? String == "not-built", "\(before)")
        #expect(before["declared_in"] as? String == "pipeline" && before["declared_by"] as? String == "library")
        #expect(before["file"] as? String == IndexSandbox.indexFile(sandbox))

        try #require(try await IndexSandbox.index(sandbox).result.status == 0)
        let built = try await listed()
        #expect(built["state"] as? String == "fresh", "\(built)")
        #expect(built["files"] as? Int == Self.fileCount && (built["chunks"] as? Int ?? 0) >= Self.fileCount, "\(built)")
        #expect(built["dimensions"] as? Int == 384 && (built["size_bytes"] as? Int ?? 0) > 0 && built["built_at"] is String)
        #expect(built["model"] as? String == "all-minilm" && built["runtime"] as? String == "echo", "\(built)")

        try "# New\n\nA new page.\n".write(toFile: sandbox.folder + "/corpus/docs/new.md", atomically: true, encoding: .utf8)
        #expect(try await listed()["state"] as? String == "stale")

        let text = try await sandbox.baton(["indexes", "--profile", "ci"])
        #expect(text.status == 0, "\(text.summary)")
        #expect(text.stdout.contains("corpus (pipeline library, "), "\(text.stdout)")
        #expect(
            text.stdout.contains("  state: stale (files changed since it was built; 'baton index corpus' updates it)"), "\(text.stdout)")
        #expect(text.stdout.contains("  model: all-minilm on echo; chunks by paragraph, 800 characters, 100 overlap"), "\(text.stdout)")
    }

    @Test("an index built with another model is refused (65, naming both and --rebuild) until --rebuild replaces it")
    func modelSwitchIsRefused() async throws {
        let sandbox = try IndexSandbox.make("index-model-switch")
        let built = try await IndexSandbox.index(sandbox)
        try #require(built.result.status == 0, "\(built.result.summary)")
        let total = try #require(built.summary["chunks_embedded"] as? Int)

        // Echo vectors depend on the width alone (another echo model name makes the same vectors, and is accepted):
        // a runtime of another width is another model.
        try """
        version: 1
        name: wide
        extends: ci
        runtimes:
          wide: {kind: echo, options: {embed_dimensions: "256"}}
        models:
          wide-minilm: {runtime: wide, footprint: 128MB}
        """.write(toFile: sandbox.folder + "/wide.yaml", atomically: true, encoding: .utf8)
        try IndexSandbox.writeLibrary(sandbox, model: "echo-small")
        let renamed = try await IndexSandbox.index(sandbox)
        #expect(renamed.result.status == 0 && renamed.summary["chunks_embedded"] as? Int == 0, "\(renamed.result.summary)")
        sandbox.environment["BATON_PROFILE"] = sandbox.folder + "/wide.yaml"
        try IndexSandbox.writeLibrary(sandbox, model: "wide-minilm")
        let refused = try await IndexSandbox.index(sandbox)
        #expect(refused.result.status == 65, "\(refused.result.summary)")
        #expect(refused.result.stderr.contains("all-minilm") && refused.result.stderr.contains("wide-minilm"), "\(refused.result.stderr)")
        #expect(refused.result.stderr.contains("baton index corpus --rebuild"), "\(refused.result.stderr)")
        let query = try await IndexSandbox.search(sandbox, "password hashing")
        #expect(query.result.status == 65 && query.result.stderr.contains("--rebuild"), "\(query.result.summary)")

        let rebuilt = try await IndexSandbox.index(sandbox, ["corpus", "--rebuild"])
        #expect(rebuilt.result.status == 0, "\(rebuilt.result.summary)")
        #expect(rebuilt.summary["rebuilt"] as? Bool == true && rebuilt.summary["chunks_embedded"] as? Int == total, "\(rebuilt.summary)")
        #expect(!FileManager.default.fileExists(atPath: IndexSandbox.indexFile(sandbox) + ".rebuild"))
        let after = try await IndexSandbox.search(sandbox, "password hashing")
        #expect(after.result.status == 0, "\(after.result.summary)")
        let fingerprint = after.document["fingerprint"] as? [String: Any]
        #expect(fingerprint?["model"] as? String == "wide-minilm" && fingerprint?["dimensions"] as? Int == 256, "\(after.document)")

        // A chunker change is a fingerprint change too.
        try IndexSandbox.writeLibrary(sandbox, model: "wide-minilm", chunk: "{by: lines, size: 20, overlap: 2}")
        let rechunked = try await IndexSandbox.index(sandbox)
        #expect(rechunked.result.status == 65 && rechunked.result.stderr.contains("chunker"), "\(rechunked.result.summary)")
    }

    @Test(
        "on a terminal the progress is a bar redrawn in place; in a pipe, plain lines",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux script(1) for a terminal"))
    func progressBar() async throws {
        let sandbox = try IndexSandbox.make("index-progress")
        var environment = sandbox.environment
        environment["PATH"] = "/usr/bin:/bin"
        let screen = try await LiveProgressTests.onTerminal(["index", "corpus"], environment: environment, folder: sandbox.folder)
        #expect(
            screen.contains("\r\u{1B}[K[########################] indexing corpus: \(Self.fileCount)/\(Self.fileCount) files, "),
            "\(screen.debugDescription)")
        #expect(screen.contains("\r\u{1B}[K[........................] indexing corpus: 0/\(Self.fileCount) files, 0 chunks embedded"))
        let summary = try String(contentsOfFile: sandbox.folder + "/out.txt", encoding: .utf8)
        #expect(summary.hasPrefix("index corpus: \(Self.fileCount) files (\(Self.fileCount) added"), "\(summary)")

        try "# More\n\nAnother page.\n".write(toFile: sandbox.folder + "/corpus/docs/more.md", atomically: true, encoding: .utf8)
        let piped = try await sandbox.baton(["index", "corpus"])
        #expect(piped.status == 0, "\(piped.summary)")
        #expect(
            piped.stderr == "indexing corpus: 0/1 files, 0 chunks embedded\nindexing corpus: 1/1 files, 1 chunk embedded\n",
            "\(piped.stderr.debugDescription)")
    }

    @Test("bad input: binary, huge and dangling files are skipped with the reason; an empty folder and a glob matching nothing exit 65")
    func badInput() async throws {
        let sandbox = try IndexSandbox.make("index-bad-input")
        let docs = sandbox.folder + "/corpus/docs/"
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D])
        png.append(Data(repeating: 0, count: 64))
        try png.write(to: URL(fileURLWithPath: docs + "logo.png"))
        try String(repeating: "a line of a log that keeps going\n", count: 160_000).write(
            toFile: docs + "huge.log", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: docs + "dangling.md", withDestinationPath: docs + "missing.md")
        try Data([0x66, 0x6F, 0xC3, 0x28, 0x0A]).write(to: URL(fileURLWithPath: docs + "latin1.txt"))  // invalid UTF-8
        // A FIFO would block a reader forever: the index must not hang on one.
        #expect(mkfifo(docs + "pipe.md", 0o644) == 0)

        let (result, timedOut) = try await IndexSandbox.runWithin(120, sandbox, ["index", "corpus", "--profile", "ci"])
        #expect(!timedOut, "baton index hung on the sandbox's files (a FIFO?): \(result.summary)")
        #expect(result.status == 0, "\(result.summary)")
        let out = result.stdout
        #expect(out.contains("skipped corpus/docs/logo.png: binary"), "\(out)")
        #expect(out.contains("skipped corpus/docs/huge.log: too large"), "\(out)")
        #expect(out.contains("skipped corpus/docs/dangling.md: unreadable"), "\(out)")
        #expect(out.contains("skipped corpus/docs/latin1.txt: binary"), "\(out)")
        #expect(out.contains("(\(Self.fileCount) added"), "\(out)")

        // An empty folder: nothing to index is the declaration's fault.
        try FileManager.default.createDirectory(atPath: sandbox.folder + "/empty", withIntermediateDirectories: true)
        try IndexSandbox.writeLibrary(sandbox, sources: "[\"empty/**/*\"]", file: "empty.yaml", name: "nothing")
        let empty = try await sandbox.baton(["index", "nothing", "--profile", "ci"])
        #expect(empty.status == 65, "\(empty.summary)")
        #expect(empty.stderr.contains("index 'nothing' has no files to read") && empty.stderr.contains("empty/**/*"), "\(empty.stderr)")

        // A glob that matches nothing names the pattern and the folder.
        try IndexSandbox.writeLibrary(sandbox, sources: "[\"corpus/**/*.rst\"]", file: "rst.yaml", name: "rst")
        let none = try await sandbox.baton(["index", "rst", "--profile", "ci"])
        #expect(none.status == 65, "\(none.summary)")
        #expect(none.stderr.contains("'corpus/**/*.rst'") && none.stderr.contains(sandbox.folder), "\(none.stderr)")

        // An invalid declaration is reported where it is, never built with defaults in its place.
        try IndexSandbox.writeLibrary(sandbox, chunk: "{by: heading, size: 100, overlap: 200}", file: "invalid.yaml", name: "invalid")
        let invalid = try await sandbox.baton(["index", "invalid", "--profile", "ci"])
        #expect(invalid.status == 65, "\(invalid.summary)")
        #expect(invalid.stderr.contains("invalid.yaml:") && invalid.stderr.contains("'overlap'"), "\(invalid.stderr)")
        #expect(!FileManager.default.fileExists(atPath: IndexSandbox.indexFile(sandbox, "invalid")))

        // No crash on any of them, and `indexes` still lists everything.
        let list = try await sandbox.baton(["indexes", "--profile", "ci"])
        #expect(list.status == 0, "\(list.summary)")
        #expect(list.stdout.contains("nothing (pipeline empty, ") && list.stdout.contains("rst (pipeline rst, "), "\(list.stdout)")
        #expect(list.stdout.contains("invalid (pipeline invalid, ") && list.stdout.contains("state: error: "), "\(list.stdout)")
    }

    @Test(
        "an unreadable file (no read permission) is skipped with the reason",
        .enabled(if: IndexCommandTests.unprivileged != nil, "needs a non-root user, or setpriv(1) to run baton as nobody"))
    func unreadableFile() async throws {
        let sandbox = try IndexSandbox.make("index-unreadable")
        let (launcher, uid) = try #require(Self.unprivileged)
        let secret = sandbox.folder + "/corpus/docs/secret.md"
        try "# Secret\n\nNot for the index.\n".write(toFile: secret, atomically: true, encoding: .utf8)
        // The sandbox belongs to the user baton runs as; the one file stays root's and unreadable.
        if getuid() == 0 {
            let enumerator = FileManager.default.enumerator(atPath: sandbox.folder)
            #expect(chown(sandbox.folder, uid, gid_t(uid)) == 0)
            while let next = enumerator?.nextObject() as? String {
                if next != "corpus/docs/secret.md" { _ = lchown(sandbox.folder + "/" + next, uid, gid_t(uid)) }
            }
        }
        #expect(chmod(secret, 0o000) == 0)
        let result = try await sandbox.baton(["index", "corpus", "--profile", "ci"], launcher: launcher)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains("skipped corpus/docs/secret.md: unreadable"), "\(result.stdout)")
    }

    /// As RunStoreFailureTests: permission bits only matter to a user who is not root.
    static let unprivileged: (launcher: [String], uid: uid_t)? = {
        if getuid() != 0 { return ([], getuid()) }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return nil }
        return (["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"], 65534)
    }()

    @Test(
        "a runtime that is down exits 69 naming it; a key leaving an untrusted folder exits 78; a runtime kind that cannot embed (Anthropic) exits 1 saying so"
    )
    func runtimeRefusals() async throws {
        let sandbox = try IndexSandbox.make("index-runtime-down")
        try """
        version: 1
        name: down
        extends: ci
        runtimes:
          gone: {kind: llama-server, url: "http://127.0.0.1:9"}
          claude: {kind: anthropic, url: "https://api.anthropic.com", api_key_env: ANTHROPIC_API_KEY}
        models:
          gone-minilm: {runtime: gone, footprint: 128MB}
          claude-minilm: {runtime: claude, footprint: 0}
        """.write(toFile: sandbox.folder + "/down.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_PROFILE"] = sandbox.folder + "/down.yaml"
        try IndexSandbox.writeLibrary(sandbox, model: "gone-minilm")
        let down = try await IndexSandbox.index(sandbox)
        #expect(down.result.status == 69, "\(down.result.summary)")
        #expect(down.result.stderr.contains("index 'corpus'") && down.result.stderr.contains("127.0.0.1:9"), "\(down.result.stderr)")
        let stored = try IndexStore.openExisting(path: IndexSandbox.indexFile(sandbox))?.stats().files ?? 0
        #expect(stored == 0, "nothing is stored when the runtime is down")

        try IndexSandbox.writeLibrary(sandbox, model: "claude-minilm")
        // A key would leave the untrusted sandbox folder: refused by trust first, as `baton run` is. (Nothing is sent
        // either way: an Anthropic runtime is refused before any request.)
        let untrusted = try await sandbox.baton(["index", "corpus"], ["ANTHROPIC_API_KEY": "sk-ant-test"])
        #expect(untrusted.status == 78 && untrusted.stderr.contains("untrusted project folder"), "\(untrusted.summary)")
        let anthropic = try await sandbox.baton(["index", "corpus", "--trust"], ["ANTHROPIC_API_KEY": "sk-ant-test"])
        #expect(anthropic.status == 1, "\(anthropic.summary)")
        #expect(anthropic.stderr.contains("cannot embed") && anthropic.stderr.contains("anthropic"), "\(anthropic.stderr)")
    }

    @Test("an unknown name exits 66 with the nearest; one declared differently by two pipelines exits 64 until --pipeline picks one")
    func names() async throws {
        let sandbox = try IndexSandbox.make("index-names")
        let unknown = try await sandbox.baton(["index", "corpos", "--profile", "ci"])
        #expect(unknown.status == 66, "\(unknown.summary)")
        #expect(unknown.stderr.contains("no index 'corpos'") && unknown.stderr.contains("did you mean 'corpus'?"), "\(unknown.stderr)")

        // The same declaration in a second pipeline of the same folder is the same index.
        try IndexSandbox.writeLibrary(sandbox, file: "twin.yaml")
        #expect(try await sandbox.baton(["indexes", "--profile", "ci"]).status == 0)
        let shared = try await IndexSandbox.index(sandbox)
        #expect(shared.result.status == 0, "\(shared.result.summary)")

        // Another one differs: ambiguous.
        try IndexSandbox.writeLibrary(sandbox, batch: 8, file: "other.yaml")
        let ambiguous = try await sandbox.baton(["index", "corpus", "--profile", "ci"])
        #expect(ambiguous.status == 64, "\(ambiguous.summary)")
        #expect(
            ambiguous.stderr.contains("declared differently by 2 pipelines") && ambiguous.stderr.contains("other (")
                && ambiguous.stderr.contains("--pipeline"), "\(ambiguous.stderr)")
        let picked = try await IndexSandbox.index(sandbox, ["corpus", "--pipeline", "library"])
        #expect(picked.result.status == 0 && picked.summary["unchanged"] as? Int == Self.fileCount, "\(picked.result.summary)")
        let missing = try await sandbox.baton(["index", "corpus", "--profile", "ci", "--pipeline", "nope"])
        #expect(missing.status == 66, "\(missing.summary)")
    }

    @Test("a SIGKILL between two files' commits leaves an index that passes its integrity check; the next index embeds only the rest")
    func killMidUpdate() async throws {
        let sandbox = try IndexSandbox.make("index-kill", batch: 1)
        let killed = try await IndexSandbox.index(sandbox, ["corpus"], ["BATON_TEST_KILL_AT": "index-progress:6"])
        #expect(killed.result.signal == SIGKILL, "\(killed.result.summary)")
        let path = IndexSandbox.indexFile(sandbox)
        let store = try #require(try IndexStore.openExisting(path: path))
        try store.integrityCheck()
        let partial = try store.stats()
        // Progress is reported once before the first file, so the fifth file's report was the sixth passage.
        #expect(partial.files == 5, "\(partial)")

        let finished = try await IndexSandbox.index(sandbox)
        #expect(finished.result.status == 0, "\(finished.result.summary)")
        #expect(finished.summary["unchanged"] as? Int == partial.files, "\(finished.summary)")
        #expect(finished.summary["added"] as? Int == Self.fileCount - partial.files, "\(finished.summary)")

        // The result is the index a clean build makes.
        let clean = try IndexSandbox.make("index-kill-clean", batch: 1)
        try #require(try await IndexSandbox.index(clean).result.status == 0)
        let expected = try #require(try IndexStore.openExisting(path: IndexSandbox.indexFile(clean))).stats()
        let final = try #require(try IndexStore.openExisting(path: path)).stats()
        #expect(final.files == expected.files && final.chunks == expected.chunks, "\(final) vs \(expected)")
        try #require(try IndexStore.openExisting(path: path)).integrityCheck()
    }

    @Test("a SIGKILL during --rebuild leaves the old index whole and answering; the next --rebuild finishes")
    func killMidRebuild() async throws {
        let sandbox = try IndexSandbox.make("index-kill-rebuild", batch: 1)
        try #require(try await IndexSandbox.index(sandbox).result.status == 0)
        let path = IndexSandbox.indexFile(sandbox)
        let before = try #require(try IndexStore.openExisting(path: path)).stats()

        try IndexSandbox.writeLibrary(sandbox, model: "echo-small", batch: 1, chunk: "{by: lines, size: 20, overlap: 2}")
        let killed = try await IndexSandbox.index(sandbox, ["corpus", "--rebuild"], ["BATON_TEST_KILL_AT": "index-progress:4"])
        #expect(killed.result.signal == SIGKILL, "\(killed.result.summary)")
        let old = try #require(try IndexStore.openExisting(path: path))
        try old.integrityCheck()
        #expect(try old.stats().files == before.files && old.stats().chunks == before.chunks && old.fingerprint()?.model == "all-minilm")
        let answer = try await IndexSandbox.search(sandbox, "password hashing")
        #expect(answer.result.status == 65, "the old index is of the old chunker, so still refused: \(answer.result.summary)")

        let rebuilt = try await IndexSandbox.index(sandbox, ["corpus", "--rebuild"])
        #expect(rebuilt.result.status == 0 && rebuilt.summary["added"] as? Int == Self.fileCount, "\(rebuilt.result.summary)")
        #expect(try #require(try IndexStore.openExisting(path: path)).fingerprint()?.model == "echo-small")
    }

    @Test(
        "a SIGKILL at any moment of an update (killed from outside, inside a file's transaction or not) leaves a consistent index; the next run finishes it"
    )
    func externalKillMidUpdate() async throws {
        // The watch reads the files table read-only: opening an IndexStore writes (its schema), so it waited on the
        // update's lock and, on a loaded machine, saw nothing before the update ended (CI, 2026-12-07).
        let sandbox = try IndexSandbox.make("index-kill-outside")
        // Enough files that the update is still running when it is killed: echo embeddings are instant, each file is
        // its own transaction.
        let many = sandbox.folder + "/corpus/many"
        try FileManager.default.createDirectory(atPath: many, withIntermediateDirectories: true)
        for number in 0..<3000 {
            try "# Note \(number)\n\nThe note number \(number) is about topic \(number % 37) and item \(number * 7).\n"
                .write(toFile: many + "/note-\(number).md", atomically: false, encoding: .utf8)
        }
        let total = Self.fileCount + 3000
        let path = IndexSandbox.indexFile(sandbox)
        let running = try sandbox.start(["index", "corpus"])
        // The watch runs on a thread of its own: a test task on the cooperative pool, which the whole suite shares, was
        // not scheduled often enough on a loaded machine to see the update before it ended (CI, 2026-12-07).
        let watch = Thread {
            let deadline = Date().addingTimeInterval(120)
            while running.isRunning, Date() < deadline {
                if IndexSandbox.filesIndexed(path) >= 200 {
                    running.send(SIGKILL)
                    return
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        watch.start()
        let result = await running.wait()
        guard result.signal == SIGKILL else {
            Issue.record("the update ended before it could be killed: \(result.summary)")
            return
        }
        let store = try #require(try IndexStore.openExisting(path: path))
        try store.integrityCheck()
        let partial = try store.stats().files
        #expect(partial >= 200 && partial < total, "\(partial) files")

        let finished = try await IndexSandbox.index(sandbox)
        #expect(finished.result.status == 0, "\(finished.result.summary)")
        #expect(finished.summary["unchanged"] as? Int == partial, "\(finished.summary)")
        #expect(finished.summary["added"] as? Int == total - partial, "\(finished.summary)")
        let again = try await IndexSandbox.index(sandbox)
        #expect(again.summary["chunks_embedded"] as? Int == 0 && again.summary["unchanged"] as? Int == total, "\(again.summary)")
        try #require(try IndexStore.openExisting(path: path)).integrityCheck()
    }
}

/// The shipped pipelines/ask-docs.yaml end to end on the echo runtime (the `ci` profile): the run builds the index of
/// docs/ before its retrieve stage, the answer cites passages of docs/, and `show` renders them as `[n] path:line`.
@Suite struct AskDocsPipelineTests {
    @Test("ask-docs on the ci profile: index built by the run, citations into docs/, shown as [n] path:line")
    func answersWithCitations() async throws {
        let sandbox = try RunSandbox("ask-docs")
        sandbox.environment["BATON_PIPELINE_PATH"] = Fixtures.path("pipelines")
        // The echo answer cites passages 3 and 1 (echo alone answers with no citation).
        let script = sandbox.folder + "/ask-script.yaml"
        try """
        answer:
          1: {output: '{"answer": "Run baton resume RUN.", "citations": [3, 1]}'}
        """.write(toFile: script, atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = script
        let run = try await sandbox.baton([
            "run", "ask-docs", "--profile", "ci", "--input", "question=How do I resume an interrupted run?",
        ])
        try #require(run.status == 0, "\(run.summary)")
        let id = try await sandbox.onlyRunID()

        // The index was built by the run, beside its database, from the repository's docs/.
        let store = try #require(try IndexStore.openExisting(path: sandbox.folder + "/indexes/baton-docs.sqlite"))
        let docs = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("docs")).filter { $0.hasSuffix(".md") }
        #expect(try store.stats().files == docs.count)

        let attempts = try sandbox.attempts(id)
        let facts = try #require(attempts.last { $0.stage == "facts" && $0.status == .completed })
        let record = try #require(RetrievalRecord.decode(facts.output), "\(facts.output)")
        #expect(record.chunks.count == 5 && record.index == "baton-docs")
        #expect(
            record.chunks.allSatisfy { $0.source.hasPrefix("../docs/") && $0.source.hasSuffix(".md") }, "\(record.chunks.map(\.source))")
        let answer = try #require(attempts.last { $0.stage == "answer" && $0.status == .completed })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [String: Any], "\(answer.output)")
        let citations = try #require(json["citations"] as? [Int], "\(json)")
        #expect(json["answer"] is String)
        #expect(citations == [3, 1], "\(json)")
        let cited = record.cited(by: answer.output)
        #expect(cited.map(\.n) == [3, 1])
        // The prompt numbered the passages as the citations do.
        for chunk in record.chunks { #expect(answer.prompt.contains("[\(chunk.n)] \(chunk.source):\(chunk.line)")) }

        let show = try await sandbox.baton(["show", id])
        #expect(show.status == 0, "\(show.summary)")
        let third = record.chunks[2]
        #expect(show.stdout.contains("sources:\n[3] \(third.source):\(third.line)\n[1] "), "\(show.stdout)")
        #expect(
            show.stdout.contains("hybrid search of index baton-docs for \"How do I resume an interrupted run?\": 5 chunks"),
            "\(show.stdout)")
        let markdown = try await sandbox.baton(["show", id, "--format", "markdown"])
        #expect(markdown.status == 0, "\(markdown.summary)")
        for chunk in cited { #expect(markdown.stdout.contains("- \(chunk.citation)\n"), "\(markdown.stdout)") }

        // A second run finds the index up to date and embeds only its query.
        let second = try await sandbox.baton([
            "run", "ask-docs", "--profile", "ci", "--input", "question=Which exit code means a runtime is down?",
        ])
        #expect(second.status == 0, "\(second.summary)")
        let list = try await sandbox.baton(["indexes", "--pipeline", "ask-docs", "--profile", "ci", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]], "\(list.summary)")
        #expect(rows.first?["state"] as? String == "fresh", "\(rows)")
    }
}
