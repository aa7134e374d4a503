import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The PostgreSQL store's own concerns: URLs and what messages show of them, a server that is down or lacks the
/// database, schema versions and concurrent migration, and riding out a server restart without half a transaction.
@Suite struct PostgresStoreTests {
    @Test func aURLIsParsedAndNoMessageShowsItsPassword() throws {
        let location = try PostgresLocation(url: "postgresql://ann:s3cret@db.example:6543/runs?sslmode=require", environment: [:])
        #expect(location.host == "db.example" && location.port == 6543 && location.user == "ann" && location.database == "runs")
        #expect(location.password == "s3cret" && location.requireTLS)
        #expect(location.redacted == "postgres://ann@db.example:6543/runs")
        let plain = try PostgresLocation(url: "postgres://h/db", environment: ["PGUSER": "bob", "PGPASSWORD": "pw"])
        #expect(plain.port == 5432 && plain.user == "bob" && plain.password == "pw" && !plain.requireTLS)
        for bad in [
            "postgres://ann:s3cret@db.example:6543", "postgres://ann:s3cret@db.example/runs?sslmode=verify-full",
            "postgres://ann:s3cret@/x",
        ] {
            #expect {
                _ = try PostgresLocation(url: bad, environment: [:])
            } throws: { error in
                (error as? StoreError)?.code == .unreachable && !"\(error)".contains("s3cret") && "\(error)".contains("ann:***@")
            }
        }
        #expect(PostgresLocation.redacting("postgres://ann:p@ss@h/db") == "postgres://ann:***@h/db")
        #expect(PostgresLocation.redacting("postgres://ann@h/db") == "postgres://ann@h/db")
    }

    @Test func aServerThatIsDownIsUnreachableWithTheURLAndTheFix() throws {
        // A port nothing listens on: bound, then closed.
        let port = try #require(
            Int(
                try Tools.runBlocking(
                    "/usr/bin/python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"]
                ).output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect {
            _ = try PostgresRunStore(url: "postgres://baton:hunter2@127.0.0.1:\(port)/baton", reconnectWindow: .seconds(1))
        } throws: { error in
            let text = "\(error)"
            return (error as? StoreError)?.code == .unreachable && text.contains("postgres://baton@127.0.0.1:\(port)/baton")
                && text.contains("check that the server is running") && !text.contains("hunter2")
        }
    }

    @Test(.enabled(if: PostgresTestDatabase.serverURL != nil, Comment(rawValue: PostgresTestDatabase.skipReason)))
    func aMissingDatabaseIsNamedWithHowToCreateIt() throws {
        let server = try #require(PostgresTestDatabase.serverURL)
        var components = try #require(URLComponents(string: server))
        components.path = "/no_such_database_here"
        #expect {
            _ = try RunStore(path: components.string ?? "")
        } throws: { error in
            (error as? StoreError)?.code == .unreachable && "\(error)".contains("has no database 'no_such_database_here'")
                && "\(error)".contains("createdb")
        }
    }

    @Test(.enabled(if: PostgresTestDatabase.serverURL != nil, Comment(rawValue: PostgresTestDatabase.skipReason)))
    func aDatabaseMigratedByANewerBatonIsRefused() throws {
        let url = try #require(try PostgresTestDatabase.fresh())
        let store = try PostgresRunStore(url: url)
        try store.write { session in
            try session.execute("INSERT INTO baton_migrations (id, applied_at) VALUES ('zz-from-the-future', 0)")
        }
        #expect {
            _ = try RunStore(path: url)
        } throws: { error in
            (error as? StoreError)?.code == .newerSchema && "\(error)".contains("migrated by a newer version of baton")
        }
    }

    @Test(.enabled(if: PostgresTestDatabase.serverURL != nil, Comment(rawValue: PostgresTestDatabase.skipReason)))
    func openersOfANewDatabaseAtOnceMigrateItOnce() async throws {
        let url = try #require(try PostgresTestDatabase.fresh())
        let results = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    await Task.detached {
                        do {
                            _ = try PostgresRunStore(url: url)
                            return nil
                        } catch {
                            return "\(error)"
                        }
                    }.value
                }
            }
            return await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(results.compactMap { $0 }.isEmpty)
        let store = try PostgresRunStore(url: url)
        let applied = try PostgresSchema.applied(store).sorted()
        #expect(applied == PostgresSchema.migrations.map(\.id).sorted())
        #expect(try store.integrityCheck() == "ok")
    }
}
