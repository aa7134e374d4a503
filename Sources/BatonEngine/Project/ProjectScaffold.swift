import BatonSpec
import Foundation

/// What `baton init` writes into a folder: a starter pipeline, a profile for this machine, a `.gitignore` for the
/// run database, and a CI workflow that validates the pipelines. It never overwrites a file.
public struct ProjectScaffold: Sendable {
    /// One file to write, by its path relative to the project folder.
    public struct File: Sendable, Hashable {
        /// The path relative to the project folder.
        public var path: String
        /// The contents.
        public var text: String

        /// Creates a file.
        public init(path: String, text: String) {
            self.path = path
            self.text = text
        }
    }

    /// What happened to one file.
    public enum Outcome: Sendable, Hashable {
        /// Written.
        case written
        /// Left as it was: a file (or folder) is already at that path.
        case skipped
    }

    /// The files, in the order they are written.
    public var files: [File]

    /// Creates a scaffold of `files`.
    public init(files: [File]) {
        self.files = files
    }

    /// The standard project: ``starterPipeline`` and its ``starterTests``, `profile` as `profiles/default.yaml`,
    /// ``gitignore`` and ``workflow``.
    public static func standard(profile: MachineProfile) -> ProjectScaffold {
        ProjectScaffold(files: [
            File(path: "pipelines/\(starterName).yaml", text: starterPipeline),
            File(path: "pipelines/\(starterName).test.yaml", text: starterTests),
            File(path: "profiles/default.yaml", text: profile.text(name: "default")),
            File(path: ".gitignore", text: gitignore),
            File(path: ".github/workflows/baton.yml", text: workflow),
        ])
    }

    /// Writes every file under `directory` (created when missing) that does not exist yet.
    ///
    /// - Returns: each file's path relative to `directory` and whether it was written or skipped.
    /// - Throws: the file system's error when a folder or file cannot be created.
    public func write(to directory: String) throws -> [(path: String, outcome: Outcome)] {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var results: [(path: String, outcome: Outcome)] = []
        for file in files {
            let full = (directory as NSString).appendingPathComponent(file.path)
            // Never overwrite: whatever is at the path (a file, a folder, a dangling link) stays as it is.
            if manager.fileExists(atPath: full) || (try? manager.destinationOfSymbolicLink(atPath: full)) != nil {
                results.append((file.path, .skipped))
                continue
            }
            try manager.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // `withoutOverwriting` fails rather than replace a file created since the check above.
            try Data(file.text.utf8).write(to: URL(fileURLWithPath: full), options: .withoutOverwriting)
            results.append((file.path, .written))
        }
        return results
    }

    /// The starter pipeline's name.
    public static let starterName = "starter"

    /// A small plan → critic → write pipeline that validates under `--strict` with any profile that maps the
    /// planner, critic and writer roles (the built-in one, or the one `init` writes).
    public static let starterPipeline = """
        # A starter pipeline written by 'baton init': plan an answer, have a critic review the plan (it may
        # send it back once), then write the answer. Stages name roles; the profile maps roles to models.
        #   baton run starter --input topic="how tides work"
        #   baton run starter --runtime echo          # a dry run with no model
        version: 1
        name: starter
        description: Plan an answer, review the plan, then write the answer.

        inputs:
          topic:
            description: What to explain.
            default: why the sky is blue

        outputs: [write]

        stages:
          plan:
            role: planner
            prompt: |
              List, in three to five short bullet points, what an explanation of {{inputs.topic}} must cover.
              {{#feedback}}
              A reviewer asked for changes: {{feedback}}
              {{/feedback}}

          review:
            role: critic
            reviews: plan
            max_rounds: 2
            on_exhausted: accept
            prompt: |
              Is this outline for an explanation of {{inputs.topic}} accurate, complete and in a sensible order?
              {{stages.plan.output}}

          write:
            role: writer
            needs: [review]
            prompt: |
              Explain {{inputs.topic}} in two short paragraphs for a curious reader, following this outline:
              {{stages.plan.output}}

        """

    /// Tests of the starter pipeline that pass on the echo runtime (`baton test`), one of them with a scripted critic
    /// loop, so a new project's CI has tests from the start and a user sees the format by example.
    public static let starterTests = """
        # Tests of the starter pipeline, written by 'baton init' (docs/testing.md in Baton's repository).
        #   baton test                                  # every case on the built-in echo runtime: no model needed
        #   baton test --profile default --repeat 3 --min-pass-rate 0.6   # on your real models, judged by pass rate
        # Each case runs the pipeline with its inputs; 'echo' scripts stage answers; 'assert' checks what happened.
        version: 1
        cases:
          - name: the critic approves the first outline
            inputs: {topic: how tides work}
            assert:
              - stages-run: [plan, review, write]
              - stage: review
                critic-rounds: 1
              - contains: "Explain how tides work"
                description: the topic reaches the writer

          - name: an outline sent back once is revised
            inputs: {topic: how tides work}
            echo:
              plan:
                1: {output: "- the Moon's pull"}
                2: {output: "- the Moon's pull\\n- the Sun's pull\\n- two bulges, two tides a day"}
              review:
                1: {verdict: revise, feedback: Mention the Sun.}
                2: {verdict: approve}
            assert:
              - stage: review
                critic-rounds: {min: 2, max: 2}
              - stage: plan
                contains: "the Sun's pull"
              - judge: {rubric: "Does the answer explain tides correctly, for a curious reader?", min-score: 0.6}
                description: scored by a real model; skipped on the echo runtime

        """

    /// Keeps a run database kept in the project (`BATON_DB=./baton.sqlite`) out of version control.
    public static let gitignore = """
        # Baton's run database, when kept in the project (BATON_DB=./baton.sqlite), and its SQLite side files.
        *.sqlite
        *.sqlite-wal
        *.sqlite-shm

        """

    /// A GitHub Actions workflow that validates the project's pipelines with annotations on the pull request, then
    /// runs their tests on the echo runtime and keeps the JUnit report.
    public static let workflow = """
        # Validates the pipelines on every push and pull request (problems show as annotations on the diff), then
        # runs their tests (pipelines/*.test.yaml) on the built-in echo runtime and keeps the JUnit report.
        # It installs baton from a clone of Baton's repository: set the repository variable BATON_REPO to its Git
        # URL (Settings > Secrets and variables > Actions > Variables). The runner needs Swift 6.1 or newer.
        name: baton
        on: [push, pull_request]
        jobs:
          validate:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - name: Install baton
                run: |
                  git clone --depth 1 "${{ vars.BATON_REPO }}" "$RUNNER_TEMP/baton"
                  "$RUNNER_TEMP/baton/scripts/install.sh" --prefix "$HOME/.local"
                  echo "$HOME/.local/bin" >> "$GITHUB_PATH"
              - name: Validate
                run: baton validate --strict --format github
              - name: Test
                run: baton test --junit baton-junit.xml
              - name: Keep the JUnit report
                if: always()
                uses: actions/upload-artifact@v4
                with:
                  name: baton-junit
                  path: baton-junit.xml

        """
}
