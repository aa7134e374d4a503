import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton workers`: the workers of a run database and the runtime hosts' reservations.
    struct Workers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the workers of the run database (alive or stale, runs held) and each runtime host's reservations.")

        @OptionGroup var database: DatabaseOption

        @Flag(help: "Print JSON.")
        var json = false

        struct Row: Encodable {
            var id: String
            var host: String
            var pid: Int
            var labels: [String]
            var concurrency: Int
            var engineLevel: Int
            var heartbeatAgeSeconds: Double
            var alive: Bool
            var runs: [HeldRow]

            enum CodingKeys: String, CodingKey {
                case id, host, pid, labels, concurrency, alive, runs
                case engineLevel = "engine_level"
                case heartbeatAgeSeconds = "heartbeat_age_seconds"
            }
        }

        struct HeldRow: Encodable {
            var runID: String
            var epoch: Int64
            enum CodingKeys: String, CodingKey {
                case epoch
                case runID = "run_id"
            }
        }

        struct HostRow: Encodable {
            var url: String
            var runtime: String
            var budgetBytes: Int64
            var reservedBytes: Int64
            var models: [String]
            var runs: Int
            enum CodingKeys: String, CodingKey {
                case url, runtime, models, runs
                case budgetBytes = "budget_bytes"
                case reservedBytes = "reserved_bytes"
            }
        }

        struct Listing: Encodable {
            var workers: [Row]
            var hosts: [HostRow]
            var formatVersion = JSONTime.formatVersion
            enum CodingKeys: String, CodingKey {
                case workers, hosts
                case formatVersion = "format_version"
            }
        }

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            let workers: [WorkerRecord]
            let held: [String: [HeldRun]]
            let hosts: [HostReservations]
            do {
                let store = try RunStore.forReading(path: database.path(environment: environment))
                workers = try store.workers()
                held = try store.heldRuns()
                hosts = try store.hostReservations()
            } catch {
                throw RunSession.fail(error)
            }
            let now = RunStore.now()
            let rows = workers.map { worker in
                Row(
                    id: worker.id, host: worker.host, pid: worker.pid, labels: worker.labels, concurrency: worker.concurrency,
                    engineLevel: worker.engineLevel, heartbeatAgeSeconds: max(0, now - worker.heartbeatAt),
                    alive: worker.isAlive(at: now),
                    runs: (held[worker.id] ?? []).map { HeldRow(runID: $0.runID, epoch: $0.epoch) })
            }
            let hostRows = hosts.map { entry in
                HostRow(
                    url: entry.host.url, runtime: entry.host.runtime, budgetBytes: entry.host.budgetBytes,
                    reservedBytes: entry.reservedBytes, models: entry.models, runs: entry.runs)
            }
            if json {
                try Console.json(Listing(workers: rows, hosts: hostRows))
                return
            }
            if rows.isEmpty {
                Console.error("no workers (start one with 'baton worker')")
            }
            for row in rows {
                let labels = row.labels.isEmpty ? "-" : row.labels.joined(separator: ",")
                let state = row.alive ? "alive" : "stale"
                let runs = row.runs.isEmpty ? "no runs" : row.runs.map { "\($0.runID) (epoch \($0.epoch))" }.joined(separator: ", ")
                Console.out(
                    "\(row.id)  \(state), heartbeat \(Int(row.heartbeatAgeSeconds))s ago  host \(row.host) pid \(row.pid)  labels \(labels)  concurrency \(row.concurrency)  engine level \(row.engineLevel)  \(runs)"
                )
            }
            if !hostRows.isEmpty {
                Console.out("")
                Console.out("runtime hosts:")
                for host in hostRows {
                    Console.out(
                        "\(host.url)  \(host.runtime)  reserved \(ByteText.mib(host.reservedBytes)) of \(ByteText.mib(host.budgetBytes))  \(host.models.isEmpty ? "no models" : host.models.joined(separator: ", "))  \(host.runs) run\(host.runs == 1 ? "" : "s")"
                    )
                }
            }
        }
    }
}

/// Byte counts as `baton workers` prints them.
enum ByteText {
    static func mib(_ bytes: Int64) -> String {
        bytes >= 1 << 30 ? String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) : "\(bytes / (1 << 20)) MiB"
    }
}
