import Foundation

/// One server-sent event: its `event:` name (nil when there was none) and its `data:` lines, joined by
/// line breaks.
struct ServerSentEvent: Sendable, Hashable {
    var name: String?
    var data: String
}

/// Turns lines into server-sent events: a blank line ends an event, lines starting with `:` are comments
/// (keep-alive pings), `event:` names the event, and several `data:` lines make one value.
struct ServerSentEventParser {
    private var name: String?
    private var data: [String] = []

    /// Takes one line; returns the event it completes, if any.
    mutating func feed(_ line: String) -> ServerSentEvent? {
        if line.isEmpty { return flush() }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "event": name = String(value)
        case "data": data.append(String(value))
        default: break  // `id:`, `retry:` and unknown fields
        }
        return nil
    }

    /// The event in progress, when the body ends without a final blank line.
    mutating func flush() -> ServerSentEvent? {
        defer {
            name = nil
            data = []
        }
        guard !data.isEmpty else { return nil }
        return ServerSentEvent(name: name, data: data.joined(separator: "\n"))
    }
}

extension HTTPResponse {
    /// The body as server-sent events.
    var events: AsyncThrowingStream<ServerSentEvent, any Error> {
        let lines = self.lines
        return .producing { continuation in
            var parser = ServerSentEventParser()
            for try await line in lines {
                if let event = parser.feed(line) { continuation.yield(event) }
            }
            if let event = parser.flush() { continuation.yield(event) }
        }
    }
}
