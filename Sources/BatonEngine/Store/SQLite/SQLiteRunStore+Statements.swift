import Foundation
import GRDB
import GRDBSQLite

/// The statements every stage runs (an attempt's start and end, their events), bound and stepped through SQLite's C
/// API on GRDB's cached statements.
///
/// GRDB's `execute(arguments:)` turns each value into a `DatabaseValue` existential and binds through nested closures;
/// with SQLite's own work down to one commit per stage that was about a third of the store's time per stage (perf,
/// Benchmarks/README.md, 2026-12-07 afternoon). Transactions still go through GRDB, which sees BEGIN and COMMIT.
enum HotStatement {
    /// A value to bind: text, a whole number or a real, each possibly NULL.
    enum Value {
        case text(String?)
        case integer(Int64?)
        case real(Double?)

        static func integer(_ value: Int?) -> Value { .integer(value.map(Int64.init)) }
    }

    /// SQLite copies bound text at once (`SQLITE_TRANSIENT`), so the Swift string may go away.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Runs `sql` (a statement that returns no rows) with `values` bound in order.
    ///
    /// - Throws: `DatabaseError` with SQLite's code and message.
    static func run(_ db: Database, _ sql: String, _ values: [Value]) throws {
        let handle = try db.cachedStatement(sql: sql).sqliteStatement
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .text(var text?):
                // With its length: a model's answer may hold a NUL, which a C string would cut.
                code = text.withUTF8 { bytes in
                    sqlite3_bind_text(handle, index, bytes.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(bytes.count), transient)
                }
            case .integer(let number?): code = sqlite3_bind_int64(handle, index, number)
            case .real(let number?): code = sqlite3_bind_double(handle, index, number)
            default: code = sqlite3_bind_null(handle, index)
            }
            guard code == SQLITE_OK else { throw error(code, db, sql) }
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw error(code, db, sql) }
    }

    private static func error(_ code: Int32, _ db: Database, _ sql: String) -> DatabaseError {
        let message = db.sqliteConnection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
    }
}
