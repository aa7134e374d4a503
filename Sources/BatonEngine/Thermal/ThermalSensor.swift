import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads the machine's thermal state.
public protocol ThermalSensor: Sendable {
    /// The state now, or nil when it cannot be known (no sensors, unreadable files).
    func currentState() -> ThermalState?
}

/// The sensor of the platform Baton runs on.
public enum ThermalSensors {
    /// The environment variable naming a folder laid out like `/sys/class/thermal`, read instead of the
    /// machine's sensors (on every platform), so tests can drive the state.
    public static let pathVariable = "BATON_THERMAL_PATH"

    /// `BATON_THERMAL_PATH`'s tree when it is set; else the Linux sysfs tree, or macOS's
    /// `ProcessInfo.thermalState`.
    public static func platform(environment: [String: String]) -> any ThermalSensor {
        if let root = environment[pathVariable], !root.isEmpty {
            return LinuxThermalSensor(root: root)
        }
        #if canImport(Darwin)
            return DarwinThermalSensor()
        #else
            return LinuxThermalSensor()
        #endif
    }
}

/// The thermal state from Linux's thermal zones (`/sys/class/thermal/thermal_zone*`).
///
/// Each zone's `temp` is compared with its trip points (`trip_point_N_temp` and `trip_point_N_type`,
/// millidegrees Celsius): at or above a `critical` trip the zone is critical, at or above a `hot` trip
/// serious, at or above a `passive` trip (where the kernel starts throttling) fair, else nominal.
/// `active` trips (fan speeds) do not count: a fan turning is normal. The hottest zone decides. A zone
/// without a readable temperature or without any usable trip point (a temperature of 0 or less) cannot
/// be judged and is skipped; when no zone can be judged, the state is unknown (nil).
public struct LinuxThermalSensor: ThermalSensor {
    /// The folder holding the `thermal_zone*` folders.
    public var root: String
    /// How long the list of zones and each zone's trip points are reused before they are read again: they
    /// rarely change, and reading them (Foundation's directory listing most of all) is nine tenths of the cost
    /// of a reading, which the executor takes before every stage. Temperatures are read every time. Zero reads
    /// everything every time.
    public var tripPointLifetime: Duration
    private let cache = TripPointCache()

    /// The kernel's thermal class folder.
    public static let defaultRoot = "/sys/class/thermal"

    /// A sensor reading the zones below `root`.
    public init(root: String = LinuxThermalSensor.defaultRoot, tripPointLifetime: Duration = .seconds(60)) {
        self.root = root
        self.tripPointLifetime = tripPointLifetime
    }

    public func currentState() -> ThermalState? {
        let zones = cache.zones(of: root, lifetime: tripPointLifetime) {
            (try? FileManager.default.contentsOfDirectory(atPath: root)).map { entries in
                entries.filter { $0.hasPrefix("thermal_zone") }.map { "\(root)/\($0)" }
            }
        }
        guard let zones else { return nil }
        var worst: ThermalState?
        for zone in zones {
            guard let temperature = Self.readInteger("\(zone)/temp") else { continue }
            let trips = cache.trips(of: zone, lifetime: tripPointLifetime) { Self.tripPoints(of: zone) }
            guard !trips.isEmpty else { continue }
            let state = trips.reduce(ThermalState.nominal) { temperature >= $1.temperature ? max($0, $1.level) : $0 }
            worst = max(worst ?? state, state)
            if state == .critical { break }
        }
        return worst
    }

    /// The trip points of `zone` that count, with the state each one starts.
    static func tripPoints(of zone: String) -> [TripPoint] {
        var trips: [TripPoint] = []
        // Trip points are numbered from 0 without gaps; the kernel caps them well below 64.
        for index in 0..<64 {
            guard let type = readText("\(zone)/trip_point_\(index)_type") else { break }
            let level: ThermalState
            switch type {
            case "critical": level = .critical
            case "hot": level = .serious
            case "passive": level = .fair
            default: continue  // active trips (fans) and unknown types
            }
            // 0 or less is a placeholder some firmware leaves, not a threshold.
            guard let temperature = readInteger("\(zone)/trip_point_\(index)_temp"), temperature > 0 else { continue }
            trips.append(TripPoint(level: level, temperature: temperature))
        }
        return trips
    }

    /// A small sysfs file's first line, or nil when it cannot be read. Reads into a stack buffer: this
    /// runs about ten times per zone and stage, so it avoids allocations and Foundation.
    static func readText(_ path: String) -> String? {
        readLine(path) { String(decoding: $0, as: UTF8.self) }
    }

    /// A sysfs file holding a whole number (millidegrees), or nil.
    static func readInteger(_ path: String) -> Int? {
        readLine(path) { bytes -> Int? in
            var value = 0
            var negative = false
            var digits = 0
            for (index, byte) in bytes.enumerated() {
                if index == 0, byte == UInt8(ascii: "-") {
                    negative = true
                } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 {
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                    digits += 1
                } else {
                    return nil
                }
            }
            return digits == 0 ? nil : negative ? -value : value
        } ?? nil
    }

    /// Calls `body` with the bytes of the file's first line (without spaces around it).
    private static func readLine<T>(_ path: String, _ body: (UnsafeRawBufferPointer.SubSequence) -> T) -> T? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { buffer -> T? in
            let count = read(descriptor, buffer.baseAddress, buffer.count)
            guard count > 0 else { return nil }
            let bytes = UnsafeRawBufferPointer(buffer)
            var end = 0
            while end < count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var start = 0
            while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start += 1 }
            while end > start,
                bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t")
                    || bytes[end - 1] == UInt8(ascii: "\r")
            {
                end -= 1
            }
            return body(bytes[start..<end])
        }
    }
}

/// A trip point that counts: the state a zone is in at or above `temperature` (millidegrees).
struct TripPoint: Sendable, Hashable {
    var level: ThermalState
    var temperature: Int
}

/// Each zone's trip points and the list of zones, and when they were read, shared by copies of a sensor.
final class TripPointCache: Sendable {
    private let entries = Locked<[String: (trips: [TripPoint], readAt: ContinuousClock.Instant)]>([:])
    private let zoneList = Locked<(root: String, zones: [String]?, readAt: ContinuousClock.Instant)?>(nil)

    /// The cached zone folders below `root` (nil: `root` could not be listed) when younger than `lifetime`, else
    /// `read()`'s, remembered.
    func zones(of root: String, lifetime: Duration, read: () -> [String]?) -> [String]? {
        let now = ContinuousClock.now
        if let cached = zoneList.withLock({ $0 }), cached.root == root, now - cached.readAt < lifetime { return cached.zones }
        let zones = read()
        zoneList.withLock { $0 = (root, zones, now) }
        return zones
    }

    /// The cached trip points of `zone` when younger than `lifetime`, else `read()`'s, remembered.
    func trips(of zone: String, lifetime: Duration, read: () -> [TripPoint]) -> [TripPoint] {
        let now = ContinuousClock.now
        // Read outside the lock: reading the zone's files must not hold up other zones.
        if let cached = entries.withLock({ $0[zone] }), now - cached.readAt < lifetime { return cached.trips }
        let trips = read()
        entries.withLock { $0[zone] = (trips, now) }
        return trips
    }
}

#if canImport(Darwin)
    /// The thermal state macOS reports (`ProcessInfo.thermalState`).
    public struct DarwinThermalSensor: ThermalSensor {
        /// A sensor for this Mac.
        public init() {}

        public func currentState() -> ThermalState? {
            switch ProcessInfo.processInfo.thermalState {
            case .nominal: return .nominal
            case .fair: return .fair
            case .serious: return .serious
            case .critical: return .critical
            @unknown default: return nil
            }
        }
    }
#endif
