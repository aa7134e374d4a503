import BatonEngine
import Foundation

/// Databases of their own for tests, on the PostgreSQL cluster `scripts/test.sh` starts for the whole suite.
public enum PostgresTestDatabase {
    /// The variable naming the suite's cluster (`postgres://baton@127.0.0.1:PORT/baton`).
    public static let variable = "BATON_TEST_POSTGRES_URL"

    /// Why PostgreSQL cases are skipped when there is no cluster, for `Test.Trait.enabled(if:_:)` and messages.
    public static let skipReason =
        "BATON_TEST_POSTGRES_URL is unset: start a cluster with scripts/start-postgres.sh --state-dir DIR and export its URL (scripts/test.sh does)"

    /// The cluster's URL, nil when the variable is unset or empty.
    public static var serverURL: String? {
        ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Creates an empty database with a unique name on the suite's cluster and returns its URL; nil when
    /// BATON_TEST_POSTGRES_URL is unset (skip, saying ``skipReason``). Databases are left behind: the cluster is thrown
    /// away after the suite.
    public static func fresh() throws -> String? {
        guard let server = serverURL else { return nil }
        let name = "baton_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        return try PostgresRunStore.createDatabase(named: String(name), onServerOf: server)
    }
}
