import Foundation
import HTTPTypes
import HummingbirdCore
import NIOCore

/// The server-sent event streams: one run's events (`/api/runs/{id}/events`) and every run's (`/api/events`).
///
/// A stream subscribes to the ``EventTail`` first, then sends the backlog from the database (after `Last-Event-ID`, else
/// `?after=`), then what the tail hands out, skipping ids already sent: in id order, never twice, never a gap. A run's
/// stream ends with `event: end` once the run is over and no process holds it.
extension ServeRoutes {
    static let eventStreamHeaders: HTTPFields = [
        .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no",
    ]

    /// Where a stream starts, or the response refusing the request.
    enum Start {
        /// After this id; nil when the request gave none.
        case after(Int64?)
        /// A start that is not an event id.
        case refused(Response)
    }

    /// Where a stream starts: `Last-Event-ID` wins over `?after=`.
    static func start(_ request: Request) -> Start {
        if let header = request.headers[HTTPField.Name("Last-Event-ID")!] {
            guard let id = Int64(header.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                return .refused(Reply.json(ServeJSON.error("Last-Event-ID '\(header)' is not an event id"), status: .badRequest))
            }
            return .after(id)
        }
        if let text = request.uri.queryParameters["after"], !text.isEmpty {
            guard let id = Int64(text), id >= 0 else {
                return .refused(Reply.json(ServeJSON.error("after '\(text)' is not an event id"), status: .badRequest))
            }
            return .after(id)
        }
        return .after(nil)
    }

    func runEvents(_ runID: String, _ request: Request) -> Response {
        let after: Int64
        switch Self.start(request) {
        case .refused(let response): return response
        case .after(let start): after = start ?? 0
        }
        let subscription: EventTail.Subscription
        let standing: RunStanding
        do {
            guard let found = try store.standing(runID) else {
                _ = try store.run(runID)  // throws the store's "no run" message
                return Reply.json(ServeJSON.error("no run '\(runID)'"), status: .notFound)
            }
            guard let subscribed = try tail.subscribe(runID: runID) else {
                return Reply.json(ServeJSON.error("baton serve is shutting down"), status: .serviceUnavailable)
            }
            subscription = subscribed
            // Where the run stands is read after subscribing and before the backlog: a run over by now has all its
            // events in the backlog.
            standing = (try store.standing(runID)) ?? found
        } catch let error as StoreError {
            return Self.failure(error, api: true, options: options)
        } catch {
            return Reply.json(ServeJSON.error("the run database cannot be followed: \(error)"), status: .internalServerError)
        }
        let (store, tail) = (store, tail)
        return Response(
            status: .ok, headers: Self.eventStreamHeaders,
            body: ResponseBody { writer in
                defer { tail.unsubscribe(subscription.key) }
                var last = after
                try await Self.sendBacklog(store, runID: runID, after: &last, to: &writer)
                if standing.isSettled {
                    try await writer.write(Self.endFrame(standing.status))
                    try await writer.finish(nil)
                    return
                }
                for await message in subscription.stream {
                    switch message {
                    case .events(let events):
                        try await Self.write(events, after: &last, to: &writer, subscription)
                    case .settled(_, let status):
                        try await writer.write(Self.endFrame(status))
                        try await writer.finish(nil)
                        return
                    case .keepAlive:
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    }
                }
                // Ended by the tail: a shutdown, or a reader too far behind (its browser reconnects with Last-Event-ID).
                try await writer.finish(nil)
            })
    }

    /// Writes the frames of `events` after id `last` in one write (the ones the backlog sent are skipped), and tells the
    /// tail they were written.
    static func write(
        _ events: [EventTail.Event], after last: inout Int64, to writer: inout any ResponseBodyWriter,
        _ subscription: EventTail.Subscription
    ) async throws {
        var buffer = ByteBuffer()
        for event in events where event.id > last {
            buffer.writeImmutableBuffer(event.frame)
            last = event.id
        }
        if buffer.readableBytes > 0 { try await writer.write(buffer) }
        subscription.wrote(events.count)
    }

    /// Sends the events of run `runID` (every run's when nil) after id `last` from the database, 500 per write, and
    /// moves `last` to the last one sent.
    static func sendBacklog(_ store: RunStore, runID: String?, after last: inout Int64, to writer: inout any ResponseBodyWriter)
        async throws
    {
        while true {
            let events = try store.events(after: last, runID: runID, limit: 500)
            let attempts = try store.attemptSummaries(events.filter { ServeJSON.carriesAttempt($0.kind) }.compactMap(\.attemptID))
            var buffer = ByteBuffer()
            for event in events {
                guard let id = event.id else { continue }
                let json = ServeJSON.text(ServeJSON.event(event, attempt: event.attemptID.flatMap { attempts[$0] }))
                buffer.writeImmutableBuffer(EventTail.Event.frame(id: id, json: json))
                last = id
            }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
            if events.count < 500 { return }
        }
    }

    static func endFrame(_ status: RunStatus) -> ByteBuffer {
        ByteBuffer(string: "event: end\ndata: \(ServeJSON.text(["status": status.rawValue]))\n\n")
    }

    func allEvents(_ request: Request) -> Response {
        let start: Int64?
        switch Self.start(request) {
        case .refused(let response): return response
        case .after(let value): start = value
        }
        let subscription: EventTail.Subscription
        let after: Int64
        do {
            guard let subscribed = try tail.subscribe(runID: nil) else {
                return Reply.json(ServeJSON.error("baton serve is shutting down"), status: .serviceUnavailable)
            }
            subscription = subscribed
            // Without a start, only what happens from now on.
            after = try start ?? store.lastEventID()
        } catch let error as StoreError {
            return Self.failure(error, api: true, options: options)
        } catch {
            return Reply.json(ServeJSON.error("the run database cannot be followed: \(error)"), status: .internalServerError)
        }
        let (store, tail) = (store, tail)
        return Response(
            status: .ok, headers: Self.eventStreamHeaders,
            body: ResponseBody { writer in
                defer { tail.unsubscribe(subscription.key) }
                var last = after
                try await Self.sendBacklog(store, runID: nil, after: &last, to: &writer)
                for await message in subscription.stream {
                    switch message {
                    case .events(let events):
                        try await Self.write(events, after: &last, to: &writer, subscription)
                    case .keepAlive:
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    case .settled:
                        continue
                    }
                }
                try await writer.finish(nil)
            })
    }
}
