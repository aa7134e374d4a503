import Foundation
import PostgresNIO

extension PostgresRunStore {
    /// Creates the empty database `name` on the server `serverURL` names (its own database is where the login goes), and
    /// returns `serverURL` with its database replaced by `name`. Tests give each suite a database of its own this way.
    ///
    /// - Throws: ``StoreError`` `.unreachable` when the server cannot be reached, `.database` when the name is taken
    ///   or the role may not create databases.
    public static func createDatabase(named name: String, onServerOf serverURL: String) throws(StoreError) -> String {
        let location = try PostgresLocation(url: serverURL)
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }), !name.isEmpty else {
            throw StoreError(.database, "'\(name)' is not a database name Baton creates; use letters, digits and _")
        }
        let pool = PostgresConnectionPool(location: location, reconnectWindow: .seconds(5))
        do {
            // CREATE DATABASE cannot run inside a transaction block: a connection of its own, outside write().
            try pool.withConnection { connection in
                try PostgresSession(connection: connection).execute("CREATE DATABASE \(name)")
            }
        } catch let error as StoreError {
            throw error
        } catch {
            if PostgresConnectionPool.isConnectionFailure(error) { throw PostgresConnectionPool.unreachable(error, location) }
            let message = (error as? PSQLError)?.serverInfo?[.message] ?? String(reflecting: error)
            throw StoreError(.database, "creating the database '\(name)' on \(location.redacted) failed: \(message)")
        }
        var components = URLComponents(string: serverURL)
        components?.path = "/" + name
        return components?.string ?? serverURL
    }
}
