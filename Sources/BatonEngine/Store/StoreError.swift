import Foundation
import GRDB

/// A failure of the run database, with a message that names the file and the fix.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Hashable {
        /// No run with that id.
        case runNotFound = "run-not-found"
        /// The database was written by a newer Baton.
        case newerSchema = "newer-schema"
        /// The file is not a SQLite database, or is damaged.
        case corrupt
        /// The file or its folder cannot be written.
        case unwritable
        /// The disk is full.
        case diskFull = "disk-full"
        /// Another process holds the run.
        case leaseHeld = "lease-held"
        /// The lease was taken over while this process ran.
        case leaseLost = "lease-lost"
        /// The database server cannot be reached (PostgreSQL down, wrong host or port, refused login).
        case unreachable
        /// A worker's lease epoch changed: another worker took the run over, so this one's commit was refused.
        case fenced
        /// Anything else the database reported.
        case database
    }

    /// What went wrong.
    public var code: Code
    /// A full sentence for the user.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Maps a GRDB error to a store error about the database at `path`.
    static func wrap(_ error: any Error, path: String?) -> StoreError {
        if let error = error as? StoreError { return error }
        let file = path.map { "'\($0)'" } ?? "the run database"
        guard let error = error as? DatabaseError else {
            return StoreError(.database, "the run database \(file) failed: \(error)")
        }
        switch error.resultCode {
        case .SQLITE_FULL:
            return StoreError(.diskFull, "the disk holding \(file) is full; free some space, then resume the run")
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            return StoreError(
                .unwritable,
                "the run database \(file) cannot be written (\(error.message ?? "\(error.resultCode)")); check the file's and its folder's permissions, or choose another with --db or BATON_DB"
            )
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StoreError(
                .corrupt,
                "\(file) is not a valid run database (\(error.message ?? "corrupt")); move it aside or choose another with --db or BATON_DB"
            )
        case .SQLITE_IOERR:
            return StoreError(.unwritable, "reading or writing \(file) failed (\(error.message ?? "I/O error")); check the disk")
        default:
            return StoreError(.database, "the run database \(file) failed: \(error.message ?? "\(error.resultCode)")")
        }
    }
}
