import BatonEngine
import BatonTestSupport
import Foundation
import GRDB
import Testing

/// The run database going wrong under the real binary: unknown runs, a newer schema, read-only and
/// misplaced files, a full disk, damaged files. Each must give a clear message on standard error and
/// its documented exit code (66 not found, 74 store failure), never a crash, and never damage the file.
@Suite struct RunStoreFailureTests {
    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// A sandbox with one completed run of the crash fixture.
    static func completedRun(_ name: String) async throws -> (RunSandbox, String) {
        let sandbox = try RunSandbox(name)
        let result = try await sandbox.runPipeline()
        try #require(result.status == 0, "\(result.summary)")
        return await (sandbox, try sandbox.onlyRunID())
    }

    /// Expects exit 74, no signal, and `message` on standard error.
    static func expectStoreFailure(
        _ result: BatonProcess.Result, _ message: String, _ what: String,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        #expect(result.signal == nil, "\(what) crashed: \(result.summary)", sourceLocation: sourceLocation)
        #expect(result.status == 74, "\(what): \(result.summary)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(message), "\(what): \(result.summary)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(what) printed to stdout: \(result.stdout)", sourceLocation: sourceLocation)
    }

    // MARK: - Unknown runs

    @Test(arguments: [["resume"], ["show"], ["show", "--format", "json"], ["rerun", "--from", "plan"]])
    func anUnknownRunExits66AndNamesIt(_ command: [String]) async throws {
        let (sandbox, id) = try await Self.completedRun("unknown-run")
        let result = try await sandbox.baton([command[0], "20990101-000000-beef"] + command.dropFirst())
        #expect(result.status == 66, "\(result.summary)")
        #expect(result.stderr.contains("no run '20990101-000000-beef' in '\(sandbox.db)'"), "\(result.summary)")
        #expect(result.stderr.contains("'baton runs' lists the runs"))
        // A prefix of a real id gets a suggestion.
        let prefix = String(id.prefix(15))
        let close = try await sandbox.baton([command[0], prefix] + command.dropFirst())
        #expect(close.status == 66)
        #expect(close.stderr.contains("no run '\(prefix)'") && close.stderr.contains("did you mean '\(id)'?"), "\(close.summary)")
        // Nothing was added to the database.
        #expect(try await sandbox.runIDs() == [id])
    }

    @Test func anUnknownRunInADatabaseThatDoesNotExistYetExits66() async throws {
        let sandbox = try RunSandbox("unknown-run-empty")
        let result = try await sandbox.baton(["resume", "nope", "--db", sandbox.folder + "/elsewhere.sqlite"])
        #expect(result.status == 66, "\(result.summary)")
        #expect(result.stderr.contains("no run 'nope'"))
    }

    // MARK: - A newer schema

    @Test func aDatabaseFromANewerBatonExits74AndIsLeftUntouched() async throws {
        let (sandbox, id) = try await Self.completedRun("newer-schema")
        do {
            let queue = try DatabaseQueue(path: sandbox.db)
            try await queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999')") }
            try queue.close()
        }
        let before = try #require(Self.bytes(sandbox.db))
        let files = try FileManager.default.contentsOfDirectory(atPath: sandbox.folder).sorted()
        for (arguments, what) in [
            (["runs", "--db", sandbox.db], "runs"), (["show", id, "--db", sandbox.db], "show"),
            (["resume", id], "resume"), (RunSandbox.runArguments, "run"), (["rerun", id, "--from", "facts"], "rerun"),
        ] {
            let result = try await sandbox.baton(arguments)
            Self.expectStoreFailure(result, "was written by a newer version of baton; upgrade baton", what)
            #expect(result.stderr.contains("'\(sandbox.db)'"), "\(what) does not name the file: \(result.stderr)")
            #expect(Self.bytes(sandbox.db) == before, "\(what) changed the database file")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.folder).sorted() == files)
    }

    // MARK: - Files that cannot be written

    /// How to make permission bits matter: as a normal user they do; root ignores them, so root runs
    /// `baton` as `nobody` through setpriv(1).
    static let unprivileged: (launcher: [String], uid: uid_t)? = {
        if getuid() != 0 { return ([], getuid()) }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return nil }
        return (["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"], 65534)
    }()

    /// Runs baton in `sandbox` as the unprivileged user.
    static func asUser(_ sandbox: RunSandbox, _ arguments: [String]) async throws -> BatonProcess.Result {
        try await sandbox.baton(arguments, launcher: unprivileged?.launcher ?? [])
    }

    /// Gives the sandbox to the unprivileged user, then takes write permission away from `paths`.
    static func makeReadOnly(_ sandbox: RunSandbox, _ paths: [String]) throws {
        let uid = try #require(unprivileged).uid
        let files = try FileManager.default.contentsOfDirectory(atPath: sandbox.folder).map { sandbox.folder + "/" + $0 }
        for path in [sandbox.folder] + files {
            #expect(chown(path, uid, gid_t(uid == 65534 ? 65534 : getgid())) == 0 || getuid() != 0)
        }
        for path in paths {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            #expect(chmod(path, isDirectory.boolValue ? 0o555 : 0o444) == 0)
        }
    }

    @Test(.enabled(if: unprivileged != nil, "needs a non-root user, or setpriv(1) to run baton as nobody"))
    func aReadOnlyDatabaseExits74AndIsLeftUntouched() async throws {
        let (sandbox, id) = try await Self.completedRun("read-only")
        try Self.makeReadOnly(sandbox, [sandbox.db, sandbox.folder])
        defer { chmod(sandbox.folder, 0o755) }
        let before = try #require(Self.bytes(sandbox.db))
        for (arguments, what) in [
            (RunSandbox.runArguments, "run"), (["resume", id], "resume"), (["rerun", id, "--from", "facts"], "rerun"),
        ] {
            let result = try await Self.asUser(sandbox, arguments)
            Self.expectStoreFailure(result, "the run database '\(sandbox.db)' cannot be written", what)
            #expect(result.stderr.contains("check the file's and its folder's permissions"), "\(result.stderr)")
            #expect(Self.bytes(sandbox.db) == before, "\(what) changed the database file")
        }
        // Commands that only read still work, from the immutable file (no -shm can be created here).
        try await Self.expectReadable(sandbox, id, before)
        // The folder is writable again but the file is not: still refused, still untouched.
        chmod(sandbox.folder, 0o755)
        let result = try await Self.asUser(sandbox, RunSandbox.runArguments)
        Self.expectStoreFailure(result, "cannot be written", "run with a read-only file")
        #expect(Self.bytes(sandbox.db) == before)
        // And reading works read-only, with SQLite's shared-memory file beside it.
        try await Self.expectReadable(sandbox, id, before)
    }

    /// `runs` and `show` of a read-only database succeed and leave it as it was.
    static func expectReadable(_ sandbox: RunSandbox, _ id: String, _ before: Data?, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        for arguments in [["runs"], ["show", id], ["show", id, "--format", "json"]] {
            let result = try await Self.asUser(sandbox, arguments)
            #expect(result.status == 0, "baton \(arguments) on a read-only database: \(result.summary)", sourceLocation: sourceLocation)
            #expect(result.stdout.contains(id), "\(result.summary)", sourceLocation: sourceLocation)
        }
        #expect(Self.bytes(sandbox.db) == before, "reading changed the database file", sourceLocation: sourceLocation)
    }

    @Test(.enabled(if: unprivileged != nil, "needs a non-root user, or setpriv(1) to run baton as nobody"))
    func aDatabaseInAReadOnlyFolderExits74() async throws {
        let sandbox = try RunSandbox("read-only-folder")
        let locked = sandbox.folder + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        try Self.makeReadOnly(sandbox, [locked])
        defer { chmod(locked, 0o755) }
        // The file cannot be created in the folder.
        let direct = try await Self.asUser(sandbox, RunSandbox.runArguments + ["--db", locked + "/runs.sqlite"])
        Self.expectStoreFailure(direct, "the run database '\(locked)/runs.sqlite' cannot be written", "run")
        // Nor can a folder for it.
        let nested = try await Self.asUser(sandbox, ["runs", "--db", locked + "/state/runs.sqlite"])
        Self.expectStoreFailure(nested, "cannot be", "runs")
        #expect(nested.stderr.contains("\(locked)/state"), "\(nested.summary)")
        #expect(!nested.stderr.contains("NSCocoaErrorDomain"), "a raw Foundation error: \(nested.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: locked).isEmpty)
    }

    /// Works for root too: no permission bits involved.
    @Test func aDirectoryWhereTheDatabaseShouldBeExits74() async throws {
        let sandbox = try RunSandbox("db-is-a-directory")
        let folder = sandbox.folder + "/runs.sqlite"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        for (arguments, what) in [(RunSandbox.runArguments, "run"), (["runs"], "runs"), (["show", "x"], "show")] {
            let result = try await sandbox.baton(arguments, ["BATON_DB": folder])
            Self.expectStoreFailure(result, "the run database '\(folder)' cannot be written", what)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        #expect(sandbox.calls().isEmpty)
        // A file where its folder should be.
        let file = sandbox.folder + "/plain-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let result = try await sandbox.baton(["runs", "--db", file + "/runs.sqlite"])
        Self.expectStoreFailure(result, "cannot be", "runs under a file")
        #expect(!result.stderr.contains("NSCocoaErrorDomain"), "a raw Foundation error: \(result.stderr)")
        #expect(Self.bytes(file) == Data("x".utf8))
    }

    // MARK: - A full disk

    /// Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN).
    static func canMountTmpfs() async -> Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/mount") else { return false }
        let probe = NSTemporaryDirectory() + "baton-mount-probe-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: false)) != nil,
            (try? await RunSandbox.tool("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]))?.status == 0
        else { return false }
        _ = try? await RunSandbox.tool("/usr/bin/umount", [probe])
        return true
    }

    /// Writes zeros to `path` until the file system says it is full; returns the bytes written.
    static func fill(_ path: String) -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while true {
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            total += written
        }
        return total
    }

    @Test(.enabled("mounting a small tmpfs needs root with CAP_SYS_ADMIN") { await canMountTmpfs() })
    func aFullDiskStopsTheRunWith74AndItResumesOnceThereIsRoom() async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("disk-full")
        let disk = sandbox.folder + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: false)
        // 4 MB: the resume must fit once the filler is gone. With progress saved at every token (the sandbox's
        // BATON_PROGRESS_INTERVAL=0) each save also appends an output-chunk event, and the log outgrew 1 MB.
        let mounted = try await RunSandbox.tool("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk])
        try #require(mounted.status == 0, "\(mounted.output)")
        sandbox.didMount(disk)
        sandbox.environment["BATON_DB"] = disk + "/runs.sqlite"

        // The disk fills up while plan#2 is in flight.
        let running = try sandbox.start(RunSandbox.runArguments, ["BATON_ECHO_CALL_DELAY": "400ms"])
        #expect(try await sandbox.waitForCall(StageRound(stage: "plan", round: 2)))
        let filler = disk + "/filler"
        #expect(Self.fill(filler) > 0)
        let stopped = await running.wait()
        Self.expectStoreFailure(stopped, "the disk holding '\(disk)/runs.sqlite' is full; free some space, then resume the run", "run")

        // Still full: resume says so too.
        let id = try await sandbox.onlyRunID()
        Self.expectStoreFailure(try await sandbox.baton(["resume", id]), "is full", "resume on a full disk")

        // Room again: the run continues where it stopped and ends like an uninterrupted run.
        try FileManager.default.removeItem(atPath: filler)
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(resumed.stdout == baseline.stdout)
        try sandbox.checkInvariants(id, baseline: baseline, context: "disk full")
    }

    // MARK: - Damaged files

    enum Damage: String, CaseIterable, Sendable {
        /// Random bytes, not a SQLite file at all.
        case garbage
        /// A run database whose pages after the first are overwritten.
        case damagedPages
        /// A run database whose header page is overwritten (after the magic string).
        case damagedHeader
        /// The first half of a run database.
        case truncated
    }

    /// Deterministic noise.
    static func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    @Test(arguments: Damage.allCases)
    func aDamagedDatabaseExits74AndIsNotOverwritten(_ damage: Damage) async throws {
        let (sandbox, id) = try await Self.completedRun("damaged-\(damage.rawValue)")
        var data = [UInt8](try #require(Self.bytes(sandbox.db)))
        switch damage {
        case .garbage: data = Self.noise(20_000, seed: 7)
        case .damagedPages: data.replaceSubrange(4096..., with: Self.noise(data.count - 4096, seed: 8))
        case .damagedHeader: data.replaceSubrange(100..<4096, with: Self.noise(3996, seed: 9))
        case .truncated: data = Array(data.prefix(data.count / 2))
        }
        try Data(data).write(to: URL(fileURLWithPath: sandbox.db))
        sandbox.clearCallLog()
        for (arguments, what) in [
            (["runs"], "runs"), (["show", id], "show"), (["show", id, "--format", "json"], "show json"), (["resume", id], "resume"),
            (RunSandbox.runArguments, "run"), (["rerun", id, "--from", "facts"], "rerun"),
        ] {
            let result = try await sandbox.baton(arguments)
            Self.expectStoreFailure(result, "'\(sandbox.db)' is not a valid run database", what)
            #expect(result.stderr.contains("move it aside or choose another with --db or BATON_DB"))
            #expect(Self.bytes(sandbox.db) == Data(data), "\(what) changed the damaged file")
        }
        #expect(sandbox.calls().isEmpty, "a runtime was called with a damaged database")
    }
}
