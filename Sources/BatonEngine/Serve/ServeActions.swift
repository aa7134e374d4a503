import BatonSpec
import Foundation
import HTTPTypes
import HummingbirdCore

#if canImport(Glibc)
    import Glibc
#endif

/// Resume, rerun and interrupt from the dashboard (`--allow-actions`): each starts the command a user would type, in
/// its own session so that a Ctrl-C meant for `baton serve` does not reach it, its output in `serve-logs/RUN.log`.
struct ServeActions: Sendable {
    let options: ServeOptions
    let store: RunStore

    /// `baton resume RUN`: 409 while a live process holds the run, or when it completed.
    func resume(_ id: String) -> Response {
        do {
            guard let standing = try store.standing(id) else { return notFound(id) }
            if !standing.leaseFree {
                return conflict(
                    "run \(id) is running (process \(standing.leasePid ?? 0) on \(standing.leaseHost ?? "?")); interrupt it first")
            }
            if standing.status == .completed {
                return conflict("run \(id) already completed; rerun it from a stage instead")
            }
            return start(["resume", id], runID: id)
        } catch {
            return ServeRoutes.failure(error, api: true, options: options)
        }
    }

    /// `baton rerun RUN --from STAGE` (the body: `{"from": "STAGE"}`); 400 for a stage the run does not have.
    func rerun(_ id: String, body: Data) -> Response {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let from = object["from"] as? String,
            !from.isEmpty
        else {
            return Reply.json(ServeJSON.error("rerun needs the stage to start from: a body {\"from\": \"STAGE\"}"), status: .badRequest)
        }
        do {
            let run = try store.run(id)
            let plan = try RunSnapshot.decode(run.snapshot).plan
            guard Executor.rerunStage(from, in: plan) != nil else {
                let names = Executor.stageAndCallNames(in: plan).joined(separator: ", ")
                return Reply.json(ServeJSON.error("run \(id) has no stage '\(from)'; its stages: \(names)"), status: .badRequest)
            }
            return start(["rerun", id, "--from", from], runID: id)
        } catch let error as StoreError {
            return ServeRoutes.failure(error, api: true, options: options)
        } catch {
            return Reply.json(ServeJSON.error("run \(id)'s snapshot cannot be read: \(error)"), status: .internalServerError)
        }
    }

    /// SIGINT to the process executing the run, which records its checkpoint and stops (as Ctrl-C does); 409 when no
    /// live process on this machine holds it.
    func interrupt(_ id: String) -> Response {
        do {
            guard let standing = try store.standing(id) else { return notFound(id) }
            guard standing.status == .running else {
                return conflict("run \(id) is not executing (status \(standing.status)); nothing to interrupt")
            }
            guard !standing.leaseFree, let pid = standing.leasePid else {
                return conflict("no live process holds run \(id) (it stopped without finishing); resume it instead")
            }
            let here = ProcessInfo.processInfo.hostName
            guard standing.leaseHost == here else {
                return conflict(
                    "run \(id) is executed by process \(pid) on \(standing.leaseHost ?? "?"), not on this machine (\(here)); stop it there")
            }
            guard kill(pid_t(pid), SIGINT) == 0 else {
                return conflict("process \(pid) executing run \(id) cannot be signalled (\(String(cString: strerror(errno))))")
            }
            return Reply.json(ServeJSON.text(["command": "kill -INT \(pid)", "pid": pid] as [String: Any]), status: .accepted)
        } catch {
            return ServeRoutes.failure(error, api: true, options: options)
        }
    }

    private func notFound(_ id: String) -> Response {
        Reply.json(ServeJSON.error("no run '\(id)' in the run database"), status: .notFound)
    }

    private func conflict(_ message: String) -> Response {
        Reply.json(ServeJSON.error(message), status: .conflict)
    }

    /// Starts `baton ARGUMENTS --db PATH` detached; 202 with the equivalent command and the pid.
    private func start(_ arguments: [String], runID: String) -> Response {
        let database = ["--db", options.databasePath]
        let log = options.logFolder + "/" + runID.replacingOccurrences(of: "/", with: "_") + ".log"
        do {
            try FileManager.default.createDirectory(
                atPath: options.logFolder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let pid = try Self.spawn(options.batonExecutable, arguments + database, environment: options.environment, log: log)
            // The line a user would type: --db only when it is not the default database.
            let implicit = RunDatabaseLocation.resolve(nil, environment: options.environment) == options.databasePath
            let command = (["baton"] + arguments + (implicit ? [] : database)).map(Self.shellQuoted).joined(separator: " ")
            return Reply.json(ServeJSON.text(["command": command, "pid": Int(pid), "log": log] as [String: Any]), status: .accepted)
        } catch {
            return Reply.json(
                ServeJSON.error("cannot start baton \(arguments.first ?? ""): \(error); see \(log)"), status: .internalServerError)
        }
    }

    /// `text` as one shell word.
    static func shellQuoted(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./:=@+".unicodeScalars.contains($0) }
        return plain && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `executable` in a new session with stdin from /dev/null and stdout and stderr appended to `log`, signals
    /// at their defaults; a thread reaps it when it ends.
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String], log: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26) is 0x80; the Glibc module does not export the GNU flag.
        let setSession: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(setSession | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else { throw SpawnError(description: String(cString: strerror(status))) }
        let child = pid
        Thread.detachNewThread {
            var exitStatus: Int32 = 0
            while waitpid(child, &exitStatus, 0) == -1 && errno == EINTR {}
        }
        return child
    }
}
