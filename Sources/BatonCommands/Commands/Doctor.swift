import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton doctor`: is everything a run needs there?
    struct Doctor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check the profile's runtimes (reachable, version, models, keys), the machine's memory and thermal state, and the run database.",
            discussion: """
                Exits \(BatonExitCode.ok) when everything checked is usable, \(BatonExitCode.runtimeUnavailable) when a runtime is \
                not, \(BatonExitCode.storeFailure) when the database is not.
                """)

        @OptionGroup var profileOption: ProfileOption

        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let workspace = Workspace.current()
            var profile: ResolvedProfile?
            let requested = profileOption.resolvedName(environment: workspace.environment)
            let builtIn = Checkup.profileFinding(workspace: workspace, requested: requested)
            if let name = workspace.profileName(requested: requested) {
                let loaded = try workspace.loadProfile(name)
                if loaded.diagnostics.hasErrors {
                    Console.error(DiagnosticFormatter.text(loaded.diagnostics, sources: loaded.sources, color: false), terminator: "")
                    throw ExitCode.invalidPipeline
                }
                profile = loaded.profile
                Console.out("profile \(loaded.profile?.chain.joined(separator: " → ") ?? name)\(builtIn == nil ? "" : " (built in)")")
            }
            let findings = await Checkup.check(
                profile: profile, database: database.path(environment: workspace.environment))
            if let builtIn { Console.out("✓ \(builtIn.subject): \(builtIn.detail)") }
            for finding in findings {
                Console.out("\(finding.ok ? "✓" : "✗") \(finding.subject): \(finding.detail)")
            }
            if findings.contains(where: { !$0.ok && $0.subject == "database" }) { throw ExitCode(BatonExitCode.storeFailure) }
            if findings.contains(where: { !$0.ok }) { throw ExitCode(BatonExitCode.runtimeUnavailable) }
        }
    }
}
