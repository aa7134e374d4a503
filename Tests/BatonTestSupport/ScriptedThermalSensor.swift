import BatonEngine
import Foundation

/// A thermal sensor for tests: returns its scripted states one reading at a time, then the last one
/// forever, and counts the readings.
public final class ScriptedThermalSensor: ThermalSensor, @unchecked Sendable {
    private let lock = NSLock()
    private let states: [ThermalState?]
    private var count = 0

    /// A sensor reading `states` in order (nil: unknown); an empty script is always unknown.
    public init(_ states: [ThermalState?]) {
        self.states = states
    }

    /// How many times the state was read.
    public var readings: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    public func currentState() -> ThermalState? {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        guard let last = states.last else { return nil }
        return count <= states.count ? states[count - 1] : last
    }
}

/// A folder laid out like `/sys/class/thermal`, in a temporary directory, for the Linux sensor and
/// `BATON_THERMAL_PATH`.
public struct FakeThermalTree {
    /// The folder to use as the sensor's root.
    public let root: String

    /// A laptop zone's trip points: a fan trip below every trip that counts, then passive 70 °C, hot 85 °C and
    /// critical 100 °C (millidegrees), so a zone is fair from 70 °C, serious from 85 °C, critical from 100 °C.
    public static let laptopTrips: [(type: String, temp: Int)] = [
        ("active", 45000), ("passive", 70000), ("hot", 85000), ("critical", 100000),
    ]

    /// A tree with one zone at `temperature` millidegrees and the ``laptopTrips``.
    public static func laptop(at temperature: Int) throws -> FakeThermalTree {
        let tree = try FakeThermalTree()
        try tree.zone(0, temp: temperature, trips: laptopTrips)
        return tree
    }

    /// An empty tree in a new temporary folder.
    public init() throws {
        root = NSTemporaryDirectory() + "baton-thermal-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// Writes zone `index` with its temperature and trip points (type, temperature), in millidegrees;
    /// a nil temperature leaves the `temp` file out.
    public func zone(_ index: Int, temp: Int?, trips: [(type: String, temp: Int)]) throws {
        let folder = "\(root)/thermal_zone\(index)"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if let temp { try "\(temp)\n".write(toFile: "\(folder)/temp", atomically: true, encoding: .utf8) }
        try "x86_pkg_temp\n".write(toFile: "\(folder)/type", atomically: true, encoding: .utf8)
        for (number, trip) in trips.enumerated() {
            try "\(trip.type)\n".write(toFile: "\(folder)/trip_point_\(number)_type", atomically: true, encoding: .utf8)
            try "\(trip.temp)\n".write(toFile: "\(folder)/trip_point_\(number)_temp", atomically: true, encoding: .utf8)
        }
    }

    /// Removes the tree.
    public func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
