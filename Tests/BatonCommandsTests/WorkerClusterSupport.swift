import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Where the worker tests put their workers: each in a network namespace of its own, linked by a veth pair to a bridge
/// the test owns (so each worker stands for a host and reaches PostgreSQL over the bridge), or all on loopback when this
/// machine cannot create namespaces (not root, no `ip`, or `BATON_TEST_WORKER_NETWORK=loopback`).
enum WorkerNetwork: String, Sendable {
    case namespaces
    case loopback

    static let ip = "/usr/sbin/ip"

    /// Found once per test process, and said in the test output.
    static let detected: WorkerNetwork = {
        let mode = probe()
        print("WorkerClusterTests: workers run \(mode == .namespaces ? "in network namespaces (veth pairs to a bridge)" : "on loopback")")
        return mode
    }()

    private static func probe() -> WorkerNetwork {
        if ProcessInfo.processInfo.environment["BATON_TEST_WORKER_NETWORK"] == "loopback" { return .loopback }
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: ip) else { return .loopback }
        removeLeftovers()
        let name = "bwc-probe-\(getpid())"
        let bridge = "bwprobe\(getpid() % 10000)"
        defer {
            _ = try? Tools.runBlocking(ip, ["netns", "del", name])
            _ = try? Tools.runBlocking(ip, ["link", "del", bridge])
        }
        guard (try? Tools.runBlocking(ip, ["netns", "add", name]))?.status == 0,
            (try? Tools.runBlocking(ip, ["link", "add", bridge, "type", "bridge"]))?.status == 0
        else { return .loopback }
        return .namespaces
    }

    /// Namespaces, bridges and PostgreSQL clusters left by a test process that died before cleaning up (their names hold
    /// its pid), so a crashed run does not leak them into the next.
    private static func removeLeftovers() {
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        for name in namespaces where name.hasPrefix("bwc-") {
            let parts = name.split(separator: "-")
            guard parts.count == 4, let pid = Int32(parts[1]), kill(pid, 0) != 0 else { continue }
            _ = try? Tools.runBlocking(ip, ["netns", "del", name])
            _ = try? Tools.runBlocking(ip, ["link", "del", "bw\(parts[2])"])
        }
        let temporary = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix("baton-wc-") {
            let parts = name.split(separator: "-")
            guard parts.count >= 4, let pid = Int32(parts[parts.count - 2]), kill(pid, 0) != 0 else { continue }
            let folder = temporary + "/" + name
            _ = try? Tools.runBlocking(Fixtures.path("scripts/stop-postgres.sh"), ["--state-dir", folder + "/pg", "--remove"])
            try? FileManager.default.removeItem(atPath: folder)
        }
    }
}

/// One `baton worker` process of a ``WorkerCluster``, its standard output and error in a log file the test can read
/// while it runs.
final class ClusterWorker: @unchecked Sendable {
    /// The worker's id (`--id`), as the store's `lease_owner` and events name it.
    let name: String
    /// Its network namespace and the host end of its veth pair (nil on loopback).
    let namespace: String?
    let hostLink: String?
    /// Its address on the bridge (nil on loopback).
    let address: String?
    let logPath: String
    /// The file its echo runtime logs calls to.
    let callLog: String
    private let process = Process()
    private let lock = NSLock()
    private var exit: (status: Int32, signal: Int32?, at: Date)?
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(
        name: String, namespace: String?, hostLink: String?, address: String?, folder: String, arguments: [String],
        environment: [String: String]
    ) throws {
        self.name = name
        self.namespace = namespace
        self.hostLink = hostLink
        self.address = address
        logPath = folder + "/worker-\(name).log"
        callLog = folder + "/calls-\(name).tsv"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        if let namespace {
            // `ip netns exec` execs the command in place, so the process id is the worker's own.
            process.executableURL = URL(fileURLWithPath: WorkerNetwork.ip)
            process.arguments = ["netns", "exec", namespace, BatonProcess.binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: BatonProcess.binary)
            process.arguments = arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        process.environment = environment.merging(["BATON_ECHO_CALL_LOG": callLog]) { $1 }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [weak self] process in
            let killed = process.terminationReason == .uncaughtSignal
            self?.finish((process.terminationStatus, killed ? process.terminationStatus : nil, Date()))
        }
        try process.run()
        try log.close()
    }

    private func finish(_ result: (Int32, Int32?, Date)) {
        let waiting = lock.withLock {
            exit = result
            defer { waiters = [] }
            return waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { lock.withLock { exit == nil } }
    /// The signal that ended it (nil while it runs or when it exited).
    var signal: Int32? { lock.withLock { exit?.signal } }
    var status: Int32? { lock.withLock { exit?.status } }
    /// When the test saw it end.
    var exitedAt: Date? { lock.withLock { exit?.at } }

    /// What it printed so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` unless it has already ended.
    func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits (at most `timeout` seconds) for it to end; whether it did.
    @discardableResult
    func waitForExit(timeout: Double = 120) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await withCheckedContinuation { continuation in
                    let done = lock.withLock {
                        if exit == nil { waiters.append(continuation) }
                        return exit != nil
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: .seconds(timeout)) }
            await group.next()
            group.cancelAll()
            // The waiter above may still be parked: end it so the group can finish.
            let waiting = lock.withLock {
                defer { waiters = [] }
                return waiters
            }
            for waiter in waiting { waiter.resume() }
            await group.waitForAll()
        }
        return !isRunning
    }

    /// The calls its echo runtime logged (stage, item and round).
    func calls() -> [StageRound] {
        let text = (try? String(contentsOfFile: callLog, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t")
            guard fields.count == 3 || fields.count == 4, let round = Int(fields[1]) else { return nil }
            return StageRound(stage: String(fields[0]), item: fields.count == 4 ? Int(fields[3]) : nil, round: round)
        }
    }
}

/// A PostgreSQL cluster of its own and `baton worker` processes for one test: the workers in network namespaces behind
/// a bridge when ``WorkerNetwork/detected`` allows, on loopback otherwise. ``with(_:_:)`` always tears it all down
/// (workers, namespaces, bridge, cluster, folder), whether the test passes, fails or throws.
final class WorkerCluster: @unchecked Sendable {
    static let fixtures = Fixtures.path("Tests/BatonCommandsTests/Fixtures/workers")
    /// The five-stage fixture (outline, draft with a critic loop, facts, summary) and its echo script.
    static let pipeline = fixtures + "/relay.yaml"
    static let script = fixtures + "/relay-script.yaml"
    /// Whether PostgreSQL's server programs are here or can be installed (scripts/setup-postgres.sh).
    static let postgresAvailable = (try? Tools.runBlocking(Fixtures.path("scripts/setup-postgres.sh"), []))?.status == 0
    /// The lease the tests give workers, in seconds (the rescuer sweeps every third of it).
    static let lease = 10

    let folder: String
    let network: WorkerNetwork
    /// Unique per cluster: names its bridge, veths and namespaces.
    private let tag: String
    private let subnet: String
    private var bridge: String { "bw\(tag)" }
    private let bin: String
    private var port = 0
    /// The database URL for the test itself (loopback).
    private(set) var url = ""
    /// The database URL workers use (the bridge address in namespaces).
    private(set) var workerURL = ""
    private let lock = NSLock()
    private var workers: [ClusterWorker] = []
    private var namespaces: [String] = []
    private var tornDown = false

    /// What every baton process of the test gets: the ci profile's folder, the fixture's echo script.
    var environment: [String: String] {
        [
            "PATH": "/usr/bin:/bin", "HOME": folder, "XDG_CONFIG_HOME": folder + "/config",
            "BATON_PROFILE_PATH": Fixtures.path("profiles"), "BATON_ECHO_SCRIPT": Self.script,
        ]
    }

    private static let counter = Locked(0)

    private init(_ name: String, network: WorkerNetwork) throws {
        self.network = network
        tag = String(format: "%06x", UInt32.random(in: 0..<0xFF_FFFF))
        let index = Self.counter.withLock {
            $0 += 1
            return $0
        }
        subnet = "10.\(180 + getpid() % 50).\(index % 250)"
        folder = NSTemporaryDirectory() + "baton-wc-\(name)-\(getpid())-\(tag)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        bin =
            try Tools.runBlocking(Fixtures.path("scripts/setup-postgres.sh"), []).output
            .split(separator: "\n").last.map(String.init) ?? "/usr/lib/postgresql/15/bin"
    }

    /// Starts a cluster, runs `body` with it and tears it down.
    static func with<T>(_ name: String, _ body: (WorkerCluster) async throws -> T) async throws -> T {
        let cluster = try WorkerCluster(name, network: WorkerNetwork.detected)
        do {
            try await cluster.start()
            let result = try await body(cluster)
            await cluster.tearDown()
            return result
        } catch {
            await cluster.tearDown()
            throw error
        }
    }

    private func start() async throws {
        var listen = "127.0.0.1"
        if network == .namespaces {
            try await shell(
                """
                \(WorkerNetwork.ip) link add \(bridge) type bridge
                \(WorkerNetwork.ip) addr add \(subnet).1/24 dev \(bridge)
                \(WorkerNetwork.ip) link set \(bridge) up
                """)
            listen += ",\(subnet).1"
        }
        let started = try await shell("\(Fixtures.path("scripts/start-postgres.sh")) --state-dir \(folder)/pg --listen \(listen)")
        let line = try #require(started.split(separator: "\n").first { $0.hasPrefix("BATON_POSTGRES_URL=") })
        port = try #require(Int(line.split(separator: ":").last?.split(separator: "/").first ?? ""))
        url = "postgres://baton@127.0.0.1:\(port)/baton"
        workerURL = url
        if network == .namespaces {
            // initdb's pg_hba.conf trusts loopback only; the workers come from the bridge's subnet.
            try await shell("echo 'host all all \(subnet).0/24 trust' >> \(folder)/pg/data/pg_hba.conf")
            _ = try await query("SELECT pg_reload_conf() AS ok")
            workerURL = "postgres://baton@\(subnet).1:\(port)/baton"
        }
    }

    /// Kills the workers still running, removes the namespaces and the bridge, stops the cluster, removes the folder.
    func tearDown() async {
        let (workers, namespaces) = lock.withLock {
            tornDown = true
            return (self.workers, self.namespaces)
        }
        for worker in workers where worker.isRunning {
            worker.send(SIGCONT)
            worker.send(SIGKILL)
        }
        for worker in workers { await worker.waitForExit(timeout: 30) }
        var script = namespaces.map { "\(WorkerNetwork.ip) netns del \($0)" }
        if network == .namespaces { script.append("\(WorkerNetwork.ip) link del \(bridge)") }
        script.append("\(Fixtures.path("scripts/stop-postgres.sh")) --state-dir \(folder)/pg")
        _ = try? await shell(script.joined(separator: "\n"), check: false)
        try? FileManager.default.removeItem(atPath: folder)
    }

    deinit {
        // A test that forgot tearDown (it cannot happen through with(_:_:)) still leaves nothing behind.
        guard !tornDown else { return }
        for worker in workers { worker.send(SIGKILL) }
        for namespace in namespaces { _ = try? Tools.runBlocking(WorkerNetwork.ip, ["netns", "del", namespace]) }
        if network == .namespaces { _ = try? Tools.runBlocking(WorkerNetwork.ip, ["link", "del", bridge]) }
        _ = try? Tools.runBlocking(Fixtures.path("scripts/stop-postgres.sh"), ["--state-dir", folder + "/pg", "--remove"])
    }

    // MARK: - Workers

    /// Starts `baton worker --id NAME --lease 10 ...` (in a namespace of its own when the cluster uses them), with the
    /// cluster's environment plus `environment`.
    func startWorker(
        _ name: String, _ arguments: [String] = [], environment extra: [String: String] = [:], lease: Int = WorkerCluster.lease
    ) async throws -> ClusterWorker {
        var namespace: String?
        var hostLink: String?
        var address: String?
        if network == .namespaces {
            let index = lock.withLock { namespaces.count + 1 }
            namespace = "bwc-\(getpid())-\(tag)-\(index)"
            hostLink = "\(bridge)v\(index)"
            address = "\(subnet).\(10 + index)"
            let peer = "\(bridge)p\(index)"
            lock.withLock { namespaces.append(namespace!) }
            let ip = WorkerNetwork.ip
            try await shell(
                """
                \(ip) netns add \(namespace!)
                \(ip) link add \(hostLink!) type veth peer name \(peer)
                \(ip) link set \(peer) netns \(namespace!)
                \(ip) link set \(hostLink!) master \(bridge) up
                \(ip) -n \(namespace!) addr add \(address!)/24 dev \(peer)
                \(ip) -n \(namespace!) link set \(peer) up
                \(ip) -n \(namespace!) link set lo up
                """)
        }
        let worker = try ClusterWorker(
            name: name, namespace: namespace, hostLink: hostLink, address: address, folder: folder,
            arguments: ["worker", "--db", workerURL, "--id", name, "--lease", String(lease)] + arguments,
            environment: environment.merging(["BATON_DB": workerURL]) { $1 }.merging(extra) { $1 })
        lock.withLock { workers.append(worker) }
        return worker
    }

    /// Every worker started so far.
    var allWorkers: [ClusterWorker] { lock.withLock { workers } }

    /// Sets a worker's link (the host end of its veth pair) down or up: a network partition between it and the rest.
    func setLink(_ worker: ClusterWorker, up: Bool) async throws {
        let link = try #require(worker.hostLink, "setLink needs network namespaces")
        try await shell("\(WorkerNetwork.ip) link set \(link) \(up ? "up" : "down")")
    }

    /// SIGSTOPs a worker at a moment none of its database sessions is inside a transaction or a statement (retrying a
    /// few times), so the stopped worker holds no row lock: what it tests is a lease running out, not a lock held for
    /// ever. On loopback its sessions cannot be told apart from other workers': call it while it is the only worker.
    func pause(_ worker: ClusterWorker) async throws {
        for _ in 0..<100 {
            worker.send(SIGSTOP)
            if try await busySessions(of: worker) == 0 { return }
            worker.send(SIGCONT)
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
        }
        Issue.record("\(worker.name) was inside a transaction at every try to stop it")
    }

    /// Cuts a worker off (its link down) at a moment none of its sessions is inside a transaction, as ``pause(_:)``.
    func partition(_ worker: ClusterWorker) async throws {
        for _ in 0..<100 {
            try await setLink(worker, up: false)
            if try await busySessions(of: worker) == 0 { return }
            try await setLink(worker, up: true)
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
        }
        Issue.record("\(worker.name) was inside a transaction at every try to cut it off")
    }

    /// How many of the worker's sessions (all clients' on loopback) PostgreSQL sees inside a transaction or a statement.
    private func busySessions(of worker: ClusterWorker) async throws -> Int {
        let filter = worker.address.map { " AND client_addr = '\($0)'" } ?? ""
        return try await query(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'\(filter)"
        ).count
    }

    /// Whether `worker` holds the run's lease now, or the run completed.
    func isTakenOver(_ run: String, by worker: String) async throws -> Bool {
        if try await owner(of: run) == worker { return true }
        return try await statuses()[run] == "completed"
    }

    /// Whether a worker's commit was refused: it logged "fenced", or a `lease-fenced` event was recorded.
    func wasFenced(_ worker: ClusterWorker) async throws -> Bool {
        if worker.log.contains("fenced") { return true }
        return try await !events(["lease-fenced"]).isEmpty
    }

    /// The worker holding a run's lease (`runs.lease_owner`).
    func owner(of run: String) async throws -> String? {
        try await query("SELECT lease_owner FROM runs WHERE id = '\(run)'").first?["lease_owner"] as? String
    }

    // MARK: - Commands and the database

    /// Runs `baton arguments` on the test's side (loopback) against the cluster's database.
    func baton(_ arguments: [String], _ extra: [String: String] = [:]) async throws -> BatonProcess.Result {
        try await BatonProcess.run(
            arguments, in: folder, environment: environment.merging(["BATON_DB": url]) { $1 }.merging(extra) { $1 }, limited: false)
    }

    /// `baton submit` of the fixture with `topic`; the new run's id.
    func submit(topic: String, _ arguments: [String] = []) async throws -> String {
        let result = try await baton(["submit", Self.pipeline, "--profile", "ci", "--input", "topic=\(topic)"] + arguments)
        try #require(result.status == 0, "baton submit failed: \(result.summary)")
        return try #require(
            result.stdout.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) }, "\(result.summary)")
    }

    /// The rows of `sql` (through psql's `json_agg`, so text with tabs and newlines survives).
    func query(_ sql: String) async throws -> [[String: Any]] {
        let output = try await shell(
            "\(bin)/psql -X -q -tA -v ON_ERROR_STOP=1 '\(url)' <<'SQL'\nSELECT coalesce(json_agg(t), '[]') FROM (\(sql)) t;\nSQL")
        let rows = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]]
        return try #require(rows, "psql printed \(output)")
    }

    /// The runs' statuses by id.
    func statuses() async throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try await query("SELECT id, status FROM runs") {
            if let id = row["id"] as? String { result[id] = row["status"] as? String }
        }
        return result
    }

    /// Events of `kinds` (all runs, in order): run id, kind, time, payload.
    func events(_ kinds: [String]) async throws -> [(run: String, kind: String, at: Double, payload: String)] {
        let list = kinds.map { "'\($0)'" }.joined(separator: ",")
        return try await query("SELECT run_id, kind, at, coalesce(payload, '') AS payload FROM events WHERE kind IN (\(list)) ORDER BY id")
            .map {
                (
                    $0["run_id"] as? String ?? "", $0["kind"] as? String ?? "", ($0["at"] as? NSNumber)?.doubleValue ?? 0,
                    $0["payload"] as? String ?? ""
                )
            }
    }

    /// Restarts PostgreSQL the hard way (`pg_ctl restart -m immediate`: no shutdown checkpoint, crash recovery at start).
    func restartPostgres() async throws {
        let data = folder + "/pg/data"
        try await shell(
            "runuser -u postgres -- \(bin)/pg_ctl -D \(data) -l \(folder)/pg/postgres.log -w -t 60 -m immediate restart >/dev/null")
    }

    /// Waits until `condition` holds (polling every 100 ms, at most `timeout` seconds); whether it did. The bound only
    /// keeps a broken run from hanging the suite.
    func waitUntil(timeout: Double = 120, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Runs a shell script off the cooperative pool; its standard output. Throws with both streams when it fails.
    ///
    /// The streams go to files, not pipes: PostgreSQL started by the script keeps the descriptors it inherited, and a
    /// pipe would never reach its end.
    @discardableResult
    func shell(_ script: String, check: Bool = true) async throws -> String {
        try await offThePool {
            let base = NSTemporaryDirectory() + "baton-shell-\(UUID().uuidString)"
            defer {
                try? FileManager.default.removeItem(atPath: base + ".out")
                try? FileManager.default.removeItem(atPath: base + ".err")
            }
            _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
            _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            // Descriptors beyond the three streams are closed first: a daemon the script starts (PostgreSQL) would keep
            // them, and one of Foundation's own kept open makes it wait for the script for ever.
            let closing = "for fd in $(ls /proc/$$/fd); do if [ \"$fd\" -gt 2 ]; then eval \"exec $fd>&-\" 2>/dev/null || true; fi; done\n"
            process.arguments = ["-ec", closing + script]
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
            process.standardInput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            let output = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
            if check && process.terminationStatus != 0 {
                let errors = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
                throw ShellError(description: "\(script)\nexit \(process.terminationStatus): \(output)\(errors)")
            }
            return output
        }
    }

    struct ShellError: Error, CustomStringConvertible {
        var description: String
    }
}
