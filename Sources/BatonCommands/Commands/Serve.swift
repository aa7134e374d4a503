import ArgumentParser
import BatonEngine
import Foundation

extension BatonCommand {
    /// `baton serve`: the dashboard of runs in the browser, and its JSON API (docs/serve.md).
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve a live dashboard of runs, and its JSON API, from the run database.",
            discussion: """
                Prints the address (http://HOST:PORT/) on the first line of standard output once it listens; Ctrl-C \
                stops it. It binds 127.0.0.1 unless --host says otherwise, and another host needs a token (--token or \
                --token-file), which every request must then carry. Read-only unless --allow-actions. Exit status: \
                64 for refused options, 66 for no run database or an unreadable token file, 71 when the port cannot \
                be bound, 74 for a damaged or newer run database, 77 for a token file other users can read. See \
                docs/serve.md.
                """)

        @Option(help: "The port to listen on (0: any free port).")
        var port = 8420

        @Option(help: "The address to bind; another than 127.0.0.1, ::1 or localhost needs a token.")
        var host = "127.0.0.1"

        @OptionGroup var database: DatabaseOption

        @Option(help: "The token every request must carry (at least 16 characters; --token-file keeps it out of ps).")
        var token: String?

        @Option(help: "A file holding the token on its first line, readable by its owner only.")
        var tokenFile: String?

        @Flag(help: "Allow resume, rerun and interrupt from the dashboard.")
        var allowActions = false

        @Option(help: .hidden)
        var pollInterval = 100

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let server: DashboardServer
            do {
                if token != nil, tokenFile != nil { throw ServeError(.usage, "--token and --token-file both give the token; pass one") }
                guard (0...65535).contains(port) else { throw ServeError(.usage, "--port \(port) is not a port; pass 0 to 65535") }
                guard pollInterval > 0 else { throw ServeError(.usage, "--poll-interval must be at least 1 ms") }
                let secret = try tokenFile.map { path throws(ServeError) in try ServeOptions.readToken(file: path) } ?? token
                let options = ServeOptions(
                    host: host, port: port, databasePath: database.path(environment: environment), token: secret,
                    allowActions: allowActions, pollInterval: .milliseconds(pollInterval), environment: environment)
                server = try DashboardServer(options: options)
                try await server.start(handlingSignals: true)
            } catch let error as ServeError {
                Console.error("error: \(error)")
                throw ExitCode(Self.exitCode(error.code))
            }
            Console.out(server.url)
            let mode = allowActions ? "actions allowed" : "read-only (--allow-actions enables resume, rerun and interrupt)"
            Console.error("baton serve: run database \(server.options.databasePath); \(mode)")
            await server.wait()
        }

        /// The exit status for each refusal (docs/serve.md, "Exit status").
        static func exitCode(_ code: ServeError.Code) -> Int32 {
            switch code {
            case .usage: BatonExitCode.usage
            case .notFound: BatonExitCode.notFound
            case .permission: BatonExitCode.keyFileDenied
            case .store: BatonExitCode.storeFailure
            case .cannotListen: BatonExitCode.cannotListen
            }
        }
    }
}
