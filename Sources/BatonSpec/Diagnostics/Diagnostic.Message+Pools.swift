// Runtime pools (`hosts:` of a profile runtime).

extension Diagnostic.Message {
    static func poolKind(_ runtime: String, kind: String) -> Self {
        .init(
            "pool-kind",
            "runtime '\(runtime)' of kind '\(kind)' cannot have 'hosts': pools are for servers Baton loads models on ('ollama', 'llama-server'); remove 'hosts', or give the runtime one 'url'"
        )
    }

    static func poolURL(_ value: String, runtime: String) -> Self {
        .init(
            "pool-url",
            "'\(value)' is not a URL for a host of runtime '\(runtime)'; write the server's base URL, like 'http://10.0.0.2:11434'")
    }

    static func poolDuplicateHost(_ url: String, runtime: String) -> Self {
        .init("pool-duplicate-host", "runtime '\(runtime)' lists host '\(url)' twice; list each host once")
    }

    static func poolAutoBudget(_ runtime: String) -> Self {
        .init(
            "invalid-size",
            "'auto' is not a budget for a host of runtime '\(runtime)': it measures this machine, not the host; write the host's size, like '24GB'"
        )
    }

    static func poolEmpty(_ runtime: String) -> Self {
        .init("pool-empty", "'hosts' of runtime '\(runtime)' is empty; list at least one host, or remove 'hosts' and give a 'url'")
    }
}
