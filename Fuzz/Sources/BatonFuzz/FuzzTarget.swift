import BatonSpec

/// A profile with a registry and a small budget, so the budget and runtime checks run too.
private let profile: ResolvedProfile? = {
    let text = """
        version: 1
        memory_budget: 8GB
        default_runtime: ollama
        runtimes:
          ollama: {kind: ollama, url: "http://127.0.0.1:11434"}
          echo: {kind: echo}
        models:
          big: {runtime: ollama, footprint: 9GB}
          small: {runtime: echo, footprint: 1GB}
        roles:
          planner: {models: [small]}
          critic: {models: [big]}
        """
    return ProfileResolver.resolve(ProfileDecoder.decode(SourceFile(path: "p.yaml", text: text), environment: [:])) { _ in nil }
        .profile
}()

/// Pipelines a fuzzed `uses:` can call: `lib` (or `lib.yaml`, `summarize`) gives a small valid pipeline, `self` (or
/// `self.yaml`) the fuzzed file itself (a cycle), anything else is not found; so mutations of a `uses:` stage reach the
/// call checks and the inlining.
private let library = """
    version: 1
    name: lib
    inputs:
      text: {}
      tone: {default: plain}
    stages:
      a: {model: small, prompt: "{{inputs.text}} {{inputs.tone}}", output: {format: json, schema: {type: object, properties: {x: {type: string}}}}}
      b: {model: big, reviews: a, prompt: "{{stages.a.output}}"}
    """

/// Crashes (so libFuzzer records the input) when a result breaks the compiler's promises.
private func check(_ diagnostics: [Diagnostic], sources: [String: SourceFile], rejected: Bool, what: String) {
    if rejected && !diagnostics.hasErrors { fatalError("\(what): rejected without an error") }
    for diagnostic in diagnostics {
        guard let location = diagnostic.location else { fatalError("\(what): diagnostic without a location: \(diagnostic)") }
        let lines = sources[location.file]?.lineCount ?? 1
        if location.line < 1 || location.column < 1 || location.line > lines + 1 {
            fatalError("\(what): location \(location) outside the file (\(lines) lines): \(diagnostic)")
        }
        if diagnostic.message.isEmpty { fatalError("\(what): empty message") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let file = SourceFile(path: "fuzz.yaml", text: text)

    var compiler = PipelineCompiler(profile: profile)
    compiler.resolvePipeline = { reference, _ throws(SourceReadError) in
        switch reference {
        case "self", "self.yaml": return file
        case "lib", "lib.yaml", "summarize": return SourceFile(path: "lib.yaml", text: library)
        default: throw .notFound
        }
    }
    compiler.pipelineNames = { ["lib", "self"] }
    let result = compiler.compile(file)
    check(result.diagnostics, sources: result.sources, rejected: result.plan == nil, what: "pipeline")
    if result.plan != nil && result.diagnostics.hasErrors { fatalError("pipeline: a plan despite errors") }

    let document = ProfileDecoder.decode(file, environment: ["HOME": "/home/fuzz"])
    let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
    check(diagnostics, sources: [file.path: file], rejected: resolved == nil, what: "profile")
    return 0
}

// SwiftPM links executable targets with `main` renamed to `<Target>_main`, so libFuzzer's own `main`
// is not used; this entry point hands control to libFuzzer's driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt
) -> CInt

@_cdecl("BatonFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { start, size in fuzz(start, size) }
}
