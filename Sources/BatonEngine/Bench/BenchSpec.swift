import Foundation
import Yams

/// A role and the models to try in it, in the order given.
public struct BenchRole: Sendable, Hashable {
    /// The role, as stages name it (`role:`).
    public var name: String
    /// The candidate models (`NAME` or `RUNTIME:NAME`).
    public var candidates: [String]

    /// A role with its candidates.
    public init(name: String, candidates: [String]) {
        self.name = name
        self.candidates = candidates
    }

    /// Parses `--role ROLE=M1,M2`.
    public init(argument: String) throws(BenchSpec.Failure) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
            throw BenchSpec.Failure("--role takes ROLE=MODEL[,MODEL...], got '\(argument)'")
        }
        name = String(argument[..<equals])
        candidates = argument[argument.index(after: equals)...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !candidates.isEmpty else { throw BenchSpec.Failure("--role \(name)= names no model; give ROLE=MODEL[,MODEL...]") }
    }
}

/// A bench file (`baton bench --file bench.yaml`): `{tests: [paths], profile, repeat, roles: {planner: [a, b]}}`.
/// Test paths are relative to the bench file's folder.
public struct BenchSpec: Sendable, Hashable {
    /// A mistake in a bench file or a `--role` value, located as `file:line:col: ` when it is in a file.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Test files, folders or pipeline names, as `baton test` takes them (resolved against the bench file's folder).
    public var tests: [String]
    /// The profile; nil: `--profile`, else the default.
    public var profile: String?
    /// Repetitions of each case; nil: `--repeat`, else 1.
    public var repeatCount: Int?
    /// The roles and their candidates, in file order.
    public var roles: [BenchRole]

    /// A bench spec.
    public init(tests: [String], profile: String? = nil, repeatCount: Int? = nil, roles: [BenchRole]) {
        self.tests = tests
        self.profile = profile
        self.repeatCount = repeatCount
        self.roles = roles
    }

    /// Reads the bench file `text` at `path`; every mistake is a failure naming `path:line:col`.
    public static func decode(_ text: String, path: String) throws(Failure) -> BenchSpec {
        func located(_ mark: Mark?, _ message: String) -> Failure {
            Failure("\(path):\(mark?.line ?? 1):\(mark?.column ?? 1): error: \(message)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            throw Failure("\(path): error: not valid YAML: \(error)")
        } catch {
            throw Failure("\(path): error: not valid YAML: \(error)")
        }
        guard let root, let top = root.mapping else {
            throw located(root?.mark, "a bench file is a mapping with 'tests', 'roles' and optionally 'profile' and 'repeat'")
        }
        var spec = BenchSpec(tests: [], roles: [])
        let folder = (path as NSString).deletingLastPathComponent
        var sawTests = false
        var sawRoles = false
        for (key, value) in top {
            switch key.string ?? "" {
            case "tests":
                sawTests = true
                let items = value.sequence.map { Array($0) } ?? (value.scalar != nil ? [value] : [])
                guard !items.isEmpty else { throw located(value.mark, "'tests' lists the test files, folders or pipelines to run") }
                for item in items {
                    guard let text = item.scalar?.string, !text.isEmpty else {
                        throw located(item.mark, "each entry of 'tests' is a path or a pipeline name")
                    }
                    // A path (a name with `/` or `.yaml`) is relative to the bench file; a bare name is a pipeline name.
                    let isPath = text.contains("/") || text.hasSuffix(".yaml") || text.hasSuffix(".yml") || text == "."
                    spec.tests.append(isPath && !text.hasPrefix("/") && !folder.isEmpty ? "\(folder)/\(text)" : text)
                }
            case "profile":
                guard let text = value.scalar?.string, !text.isEmpty else { throw located(value.mark, "'profile' is a profile name") }
                spec.profile = text
            case "repeat":
                guard let count = value.scalar.flatMap({ Int($0.string) }), count >= 1 else {
                    throw located(value.mark, "'repeat' is a whole number of at least 1")
                }
                spec.repeatCount = count
            case "roles":
                sawRoles = true
                guard let roles = value.mapping, !roles.isEmpty else {
                    throw located(value.mark, "'roles' maps each role to its candidate models, as {planner: [model-a, model-b]}")
                }
                for (roleKey, models) in roles {
                    guard let name = roleKey.string, !name.isEmpty else { throw located(roleKey.mark, "a role name is text") }
                    let items = models.sequence.map { Array($0) } ?? (models.scalar != nil ? [models] : [])
                    let candidates = items.compactMap { $0.scalar?.string }.filter { !$0.isEmpty }
                    guard !candidates.isEmpty, candidates.count == items.count else {
                        throw located(models.mark, "role '\(name)' lists its candidate models, as [model-a, model-b]")
                    }
                    spec.roles.append(BenchRole(name: name, candidates: candidates))
                }
            default:
                let known = ["tests", "profile", "repeat", "roles"]
                throw located(key.mark, "unknown key '\(key.string ?? "")' in a bench file; the keys are \(known.joined(separator: ", "))")
            }
        }
        if !sawTests { throw located(root.mark, "missing 'tests': the test files, folders or pipelines to run") }
        if !sawRoles { throw located(root.mark, "missing 'roles': each role with its candidate models") }
        return spec
    }

    /// Reads the bench file at `path`.
    public static func load(path: String) throws(Failure) -> BenchSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure("no bench file '\(path)'; give a YAML file with 'tests' and 'roles'")
        }
        return try decode(String(decoding: data, as: UTF8.self), path: path)
    }
}
