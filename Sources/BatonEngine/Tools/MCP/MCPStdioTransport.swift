import Foundation
import Logging
import MCP
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The MCP stdio transport over a server process's pipes: newline-delimited messages, read on a thread of its own.
///
/// Why not swift-sdk 0.12.1's `StdioTransport` (Sources/MCP/Base/Transports/StdioTransport.swift):
/// - When the server's stdout reaches end of file, its `readLoop` calls `messageContinuation.finish()`, and
///   `Client`'s message loop (Sources/MCP/Client/Client.swift, `connect(transport:)`) is a `repeat { for try await
///   data in await connection.receive() { … } } while true` that only leaves on cancellation or a thrown error: with
///   the stream finished, each turn returns at once, and the actor hops run inline, so the loop never gives its
///   cooperative thread back until `disconnect()`. A dead server thus took one of the machine's two cooperative
///   threads; two at once starved the pool, and nothing (swift-subprocess's exit report, timers, other tests'
///   servers) ran again: the hang of the parallel MCPClientTests and the multi-second stalls of the whole suite.
///   Here the stream ends by throwing `MCPTransportClosed`, which ends `Client`'s loop.
/// - It polls a non-blocking descriptor every 10 ms, so each reply waited up to 10 ms (the ~10.3 ms warm call of
///   Benchmarks/README.md). Here a thread blocks in `poll(2)` and hands each line over as soon as it is read.
public actor MCPStdioTransport: Transport {
    /// The SDK's logger for this transport (its warnings about stray stdout lines are a protocol failure).
    public nonisolated let logger: Logger

    private let reader: PipeLineReader
    private let output: FileDescriptor
    private let messages: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private var connected = false

    /// A transport that reads messages from `input` (the server's stdout) and writes them to `output` (its stdin).
    ///
    /// - Parameters:
    ///   - input: the server's stdout; the transport closes it when reading stops.
    ///   - output: the server's stdin; the caller closes it (closing it is the first step of a server's shutdown).
    ///   - logger: the SDK logs stray stdout lines here.
    ///   - onClose: called once, on the reader thread, when the server's stdout ends (or cannot be read).
    public init(
        input: FileDescriptor, output: FileDescriptor,
        logger: Logger = Logger(label: "baton.mcp", factory: { _ in SwiftLogNoOpLogHandler() }),
        onClose: @escaping @Sendable () -> Void = {}
    ) {
        self.logger = logger
        self.output = output
        (messages, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
        let continuation = self.continuation
        reader = PipeLineReader(
            descriptor: input, name: "baton-mcp-stdout",
            onLine: { line in
                if !line.isEmpty { continuation.yield(line) }
            },
            onEnd: {
                continuation.finish(throwing: MCPTransportClosed())
                onClose()
            })
    }

    /// Starts the reader thread and makes writes non-blocking (a server that stops reading must not hold a thread).
    public func connect() async throws {
        guard !connected else { return }
        let flags = fcntl(output.rawValue, F_GETFL)
        guard flags >= 0, fcntl(output.rawValue, F_SETFL, flags | O_NONBLOCK) >= 0 else {
            throw MCPError.transportError(Errno(rawValue: errno))
        }
        connected = true
        reader.start()
    }

    /// Stops reading (the reader closes the server's stdout) and ends the message stream.
    public func disconnect() async {
        connected = false
        reader.stop()
        continuation.finish(throwing: MCPTransportClosed())
    }

    /// Writes one message and its newline; a full pipe is retried every millisecond without holding the thread.
    public func send(_ data: Data) async throws {
        guard connected else { throw MCPError.transportError(Errno(rawValue: ENOTCONN)) }
        var remaining = data + [UInt8(ascii: "\n")]
        while !remaining.isEmpty {
            do {
                let written = try remaining.withUnsafeBytes { try output.write($0) }
                remaining = remaining.dropFirst(written)
            } catch Errno.wouldBlock {
                try await Task.sleep(for: .milliseconds(1))
            } catch {
                throw MCPError.transportError(error)
            }
        }
    }

    /// The messages the server writes, in order; the stream throws `MCPTransportClosed` when its stdout ends.
    public nonisolated func receive() -> AsyncThrowingStream<Data, any Error> {
        messages
    }
}

/// The server's stdout ended, or the transport was disconnected.
public struct MCPTransportClosed: Error, CustomStringConvertible {
    /// What the error says.
    public var description: String { "the MCP server's stdout was closed" }
}

/// Reads a pipe line by line on a thread of its own, waiting in `poll(2)` so a blocking read never holds one of the
/// few cooperative threads, and so `stop()` ends it within a poll interval even while a process holds the pipe open.
final class PipeLineReader: Sendable {
    private enum State { case idle, running, stopping, done }
    private let descriptor: FileDescriptor
    private let name: String
    private let onLine: @Sendable (Data) -> Void
    private let onEnd: @Sendable () -> Void
    private let state = Locked(State.idle)
    private static let pollInterval: Int32 = 100  // milliseconds

    /// A reader of `descriptor`, which it closes when it ends; `onLine` gets each line without its line ending,
    /// `onEnd` is called once after the last line (not when `stop()` came before `start()`).
    init(descriptor: FileDescriptor, name: String, onLine: @escaping @Sendable (Data) -> Void, onEnd: @escaping @Sendable () -> Void) {
        self.descriptor = descriptor
        self.name = name
        self.onLine = onLine
        self.onEnd = onEnd
    }

    /// Starts the thread (once; not after `stop()`).
    func start() {
        let start = state.withLock { state -> Bool in
            guard state == .idle else { return false }
            state = .running
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Asks the thread to stop at its next poll; before `start()`, closes the descriptor now.
    func stop() {
        let neverStarted = state.withLock { state -> Bool in
            switch state {
            case .idle:
                state = .done
                return true
            case .running:
                state = .stopping
                return false
            case .stopping, .done:
                return false
            }
        }
        if neverStarted { try? descriptor.close() }
    }

    private var stopping: Bool { state.current != .running }

    private func run() {
        var pending = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !stopping {
            var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Self.pollInterval)
            if ready < 0, errno == EINTR { continue }
            if ready < 0 { break }
            if ready == 0 { continue }
            let count = buffer.withUnsafeMutableBytes { (try? descriptor.read(into: $0, retryOnInterrupt: true)) ?? -1 }
            if count <= 0 { break }
            pending.append(contentsOf: buffer[..<count])
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                onLine(Data(pending[start..<end]))
                start = newline + 1
            }
            pending = Data(pending[start...])
        }
        if !pending.isEmpty, !stopping { onLine(pending) }
        try? descriptor.close()
        state.withLock { $0 = .done }
        onEnd()
    }
}
