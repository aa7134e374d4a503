import Foundation
import GRDB
import NIOCore

/// The one poller of a `baton serve`: it follows the run database's event log and fans new events out to every open
/// stream, so fifty pages on one run cost the run one cheap query per poll, not fifty.
///
/// Other processes write the database (`baton run`, `baton resume`), and SQLite tells no other process: the poller
/// asks `PRAGMA data_version` every ``ServeOptions/pollInterval`` on its own read-only connection (a number that
/// changes when another connection commits) and reads `events WHERE id > last` only when it changed. It runs only while
/// someone is subscribed. What a poll read goes to each subscriber as one batch, written to its connection at once. A
/// subscriber handed more than ``bufferLimit`` events it has not written yet is dropped after those: its stream ends, and
/// the browser reconnects with `Last-Event-ID`.
public final class EventTail: Sendable {
    /// One event, with its JSON as the streams send it.
    public struct Event: Sendable, Hashable {
        public var id: Int64
        public var runID: String
        public var json: String
        /// Its server-sent event frame (`id: N`, `data: JSON`), built once for every stream that sends it: fifty
        /// streams on one run copy these bytes instead of each formatting and encoding the text again.
        public var frame: ByteBuffer

        init(id: Int64, runID: String, json: String) {
            self.id = id
            self.runID = runID
            self.json = json
            frame = Self.frame(id: id, json: json)
        }

        /// `id: N` and `data: JSON`, the frame of one event (the backlog, read from the database, uses it too).
        static func frame(id: Int64, json: String) -> ByteBuffer {
            ByteBuffer(string: "id: \(id)\ndata: \(json)\n\n")
        }
    }

    /// What a subscriber receives.
    public enum Message: Sendable {
        /// The events of one poll, in id order (a run's stream gets that run's only).
        case events([Event])
        /// The run is over and no process holds it: nothing more will be written to its log but by a new command.
        case settled(runID: String, status: RunStatus)
        /// Nothing happened for a while: the stream sends a comment, so proxies keep it open and a closed one is noticed.
        case keepAlive
    }

    /// One open stream's end of the tail: its messages, and the count of events handed to it and not yet written.
    public final class Subscription: Sendable {
        /// The key ``EventTail/unsubscribe(_:)`` takes.
        public let key: Int
        /// The messages, until the stream is dropped or the tail closes.
        public let stream: AsyncStream<Message>
        let pending = Locked(0)

        init(key: Int, stream: AsyncStream<Message>) {
            self.key = key
            self.stream = stream
        }

        /// Says that `count` events handed to it were written.
        public func wrote(_ count: Int) {
            pending.withLock { $0 = max(0, $0 - count) }
        }
    }

    /// How often a quiet stream gets ``Message/keepAlive``.
    public static let keepAliveInterval: Duration = .seconds(15)

    /// Events a subscriber may have been handed and not written before it is dropped.
    public static let bufferLimit = 10_000

    private struct Subscriber {
        var runID: String?
        var continuation: AsyncStream<Message>.Continuation
        var subscription: Subscription
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var nextKey = 0
        var poller: Task<Void, Never>?
        var generation = 0
        var lastID: Int64 = 0
        var dataVersion: Int?
        var closed = false
    }

    private let path: String
    private let interval: Duration
    private let state = Locked(State())
    private let connection = Locked<DatabaseQueue?>(nil)

    /// A poller of the database at `path`, every `interval` while someone listens.
    public init(path: String, interval: Duration) {
        self.path = path
        self.interval = interval
    }

    /// How many streams are open.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Whether the poller runs (it does while anyone is subscribed).
    public var isPolling: Bool { state.withLock { $0.poller != nil } }

    /// Subscribes to the events committed from now on: run `runID`'s, or every run's when nil.
    ///
    /// Subscribe first, then read the backlog, then skip streamed events the backlog already held: nothing is missed
    /// (the tail starts at the log's end as it is when this returns) and nothing is sent twice.
    /// - Returns: the subscription; nil when the server is shutting down.
    public func subscribe(runID: String?) throws -> Subscription? {
        // Unbounded: what it holds is bounded by counting events (``bufferLimit``), not batches.
        let (stream, continuation) = AsyncStream<Message>.makeStream()
        let queue = try database()
        return try state.withLock { state -> Subscription? in
            guard !state.closed else { return nil }
            if state.poller == nil {
                // Started under the lock, at the log's end as it is now, so the caller's backlog read comes after it.
                state.lastID = try queue.read { try SQLiteRunStore.lastEventID($0, runID: nil) }
                state.dataVersion = nil
                state.generation += 1
                let generation = state.generation
                state.poller = Task.detached { [weak self] in await self?.poll(generation: generation) }
            }
            let key = state.nextKey
            state.nextKey += 1
            let subscription = Subscription(key: key, stream: stream)
            state.subscribers[key] = Subscriber(runID: runID, continuation: continuation, subscription: subscription)
            continuation.onTermination = { [weak self] _ in self?.unsubscribe(key) }
            return subscription
        }
    }

    /// Ends a subscription; the last one stops the poller.
    public func unsubscribe(_ key: Int) {
        let removed = state.withLock { state -> Subscriber? in
            let removed = state.subscribers.removeValue(forKey: key)
            if state.subscribers.isEmpty {
                state.poller?.cancel()
                state.poller = nil
            }
            return removed
        }
        removed?.continuation.finish()
    }

    /// Ends every stream and refuses new ones (the server is shutting down: open streams would hold it up).
    public func close() {
        let subscribers = state.withLock { state -> [Subscriber] in
            state.closed = true
            state.poller?.cancel()
            state.poller = nil
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.continuation.finish() }
    }

    /// The poller's own read-only connection, opened on first use.
    private func database() throws -> DatabaseQueue {
        try connection.withLock { queue in
            if let queue { return queue }
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            let opened = try DatabaseQueue(path: path, configuration: configuration)
            queue = opened
            return opened
        }
    }

    private func poll(generation: Int) async {
        var tick = 0
        let clock = ContinuousClock()
        var lastKeepAlive = clock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            tick += 1
            if clock.now - lastKeepAlive >= Self.keepAliveInterval {
                lastKeepAlive = clock.now
                broadcast(.keepAlive, generation: generation)
            }
            // A holder killed after its run ended changes nothing in the file: every 2 s the runs are looked at anyway.
            let everyFewSeconds = max(1, Int(2.0 / max(0.001, interval.seconds)))
            do {
                try pollOnce(generation: generation, force: tick % everyFewSeconds == 0)
            } catch {
                // A busy or briefly unreadable database is tried again at the next poll.
                continue
            }
        }
    }

    /// Reads what was committed since the last poll and hands it out.
    private func pollOnce(generation: Int, force: Bool) throws {
        let queue = try database()
        let version = try queue.read { try Int.fetchOne($0, sql: "PRAGMA data_version") ?? 0 }
        guard
            let (from, runs) = state.withLock({ state -> (Int64, Set<String>)? in
                guard state.generation == generation, state.poller != nil else { return nil }
                if !force, state.dataVersion == version { return nil }
                return (state.lastID, Set(state.subscribers.values.compactMap(\.runID)))
            })
        else { return }
        // Where the runs stand is read before their events: a run settled by then has all its events in what follows.
        let standings = try queue.read { try SQLiteRunStore.standings($0, Array(runs)) }
        // Read after data_version, so a commit between the two is read now or noticed at the next poll.
        var events: [Event] = []
        var last = from
        while true {
            let (page, attempts) = try queue.read { db in
                let page = try SQLiteRunStore.events(db, after: last, runID: nil, limit: 1000)
                // Every run's: a stream that subscribed during this poll gets these events too.
                let wanted = page.filter { ServeJSON.carriesAttempt($0.kind) }.compactMap(\.attemptID)
                return (page, try SQLiteRunStore.attemptSummaries(db, wanted))
            }
            for event in page {
                guard let id = event.id else { continue }
                let json = ServeJSON.text(ServeJSON.event(event, attempt: event.attemptID.flatMap { attempts[$0] }))
                events.append(Event(id: id, runID: event.runID, json: json))
                last = id
            }
            if page.count < 1000 { break }
        }
        let settled = standings.filter(\.value.isSettled)
        let dropped = state.withLock { state -> [Subscriber] in
            guard state.generation == generation, state.poller != nil else { return [] }
            state.lastID = last
            state.dataVersion = version
            var dropped: [Int] = []
            for (key, subscriber) in state.subscribers {
                var mine = subscriber.runID.map { runID in events.filter { $0.runID == runID } } ?? events
                if !mine.isEmpty {
                    let room = subscriber.subscription.pending.withLock { pending in
                        let room = max(0, Self.bufferLimit - pending)
                        pending += min(room, mine.count)
                        return room
                    }
                    // A reader this far behind gets what fits, then its stream ends; it reconnects after the last.
                    let overflow = mine.count > room
                    if overflow { mine = Array(mine.prefix(room)) }
                    if !mine.isEmpty { subscriber.continuation.yield(.events(mine)) }
                    if overflow {
                        dropped.append(key)
                        continue
                    }
                }
                if let runID = subscriber.runID, let standing = settled[runID] {
                    subscriber.continuation.yield(.settled(runID: runID, status: standing.status))
                }
            }
            return dropped.compactMap { state.subscribers.removeValue(forKey: $0) }
        }
        for subscriber in dropped { subscriber.continuation.finish() }
    }

    /// Hands `message` to every subscriber.
    private func broadcast(_ message: Message, generation: Int) {
        state.withLock { state in
            guard state.generation == generation else { return }
            for subscriber in state.subscribers.values { subscriber.continuation.yield(message) }
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
