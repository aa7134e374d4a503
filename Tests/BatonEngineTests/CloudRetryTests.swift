import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Which failures of the cloud clients may be retried, and after how long: status codes, the APIs' own
/// `x-should-retry`, `retry-after-ms` and `Retry-After` headers and Baton's cap on them, as the official SDKs
/// decide (the study's section 4).
@Suite struct CloudRetryTests {
    typealias StatusCase = CloudClientTests.StatusCase

    static let openAIStatuses: [StatusCase] = [
        .init(status: 400, code: .httpStatus, transient: false), .init(status: 401, code: .httpStatus, transient: false),
        .init(status: 403, code: .httpStatus, transient: false), .init(status: 404, code: .modelNotFound, transient: false),
        .init(status: 429, code: .httpStatus, transient: true), .init(status: 500, code: .httpStatus, transient: true),
        .init(status: 503, code: .httpStatus, transient: true),
    ]

    @Test(arguments: openAIStatuses)
    func openAIStatusesMapToCodesAndTransience(_ expected: StatusCase) async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.status(expected.status))
            let failed = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            let error = try #require(failed.runtimeError)
            #expect(error.code == expected.code)
            #expect(error.isTransient == expected.transient)
            #expect(error.message.contains(standIn.baseURL))
            #expect(failed.tokens.isEmpty)
            // The fault was for one request: the next one succeeds.
            let next = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            #expect(next.error == nil)
        }
    }

    @Test func openAIFaultsLastForTheScriptedNumberOfRequests() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.status(503, count: 2))
            let client = Cloud.openAI(standIn)
            let first = await Cloud.run(client, Cloud.request("gpt-test"))
            let second = await Cloud.run(client, Cloud.request("gpt-test"))
            let third = await Cloud.run(client, Cloud.request("gpt-test"))
            #expect(first.runtimeError?.message.contains("503") == true)
            #expect(first.runtimeError?.message.contains("The engine is currently overloaded") == true)
            #expect(second.runtimeError?.isTransient == true)
            #expect(third.error == nil)
        }
    }

    @Test func aRateLimitCarriesTheWaitTheAPIAsksFor() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { openAI in
            openAI.inject(.status(429))
            let limited = await Cloud.run(Cloud.openAI(openAI), Cloud.request("gpt-test"))
            #expect(limited.runtimeError?.isTransient == true)
            #expect(limited.runtimeError?.retryAfter == 1)
        }
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { anthropic in
            anthropic.inject(.status(429))
            let limited = await Cloud.run(Cloud.anthropic(anthropic), Cloud.request("claude-test"))
            #expect(limited.runtimeError?.retryAfter == 1)
            anthropic.inject(.status(500))
            let failed = await Cloud.run(Cloud.anthropic(anthropic), Cloud.request("claude-test"))
            #expect(failed.runtimeError?.isTransient == true)
            #expect(failed.runtimeError?.retryAfter == nil)
        }
    }

    @Test func retryAfterReadsSecondsAndHTTPDates() {
        let now = Date(timeIntervalSince1970: 1_780_000_000)
        func response(_ value: String) -> HTTPResponse {
            HTTPResponse(status: 429, body: AsyncThrowingStream { $0.finish() }, headers: [("retry-after", value)])
        }
        #expect(response("7").retryAfter(now: now) == 7)
        #expect(response("86400").retryAfter(now: now) == 86400)  // not capped here: the clients decide
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        #expect(response(formatter.string(from: now.addingTimeInterval(30))).retryAfter(now: now) == 30)
        #expect(response("soon").retryAfter(now: now) == nil)
        #expect(HTTPResponse(status: 429, body: AsyncThrowingStream { $0.finish() }).retryAfter(now: now) == nil)
    }

    @Test func openAIExhaustedQuotaIsNotRetried() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            // A 429 is usually a rate limit (retry later), but not when the account's quota is used up.
            standIn.inject(
                .status(
                    429, message: "You exceeded your current quota, please check your plan and billing details.", code: "insufficient_quota"
                ))
            let failed = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            #expect(failed.runtimeError?.isTransient == false)
            #expect(failed.runtimeError?.message.contains("quota") == true)
        }
    }

    static let anthropicStatuses: [StatusCase] = [
        .init(status: 400, code: .httpStatus, transient: false), .init(status: 401, code: .httpStatus, transient: false),
        .init(status: 402, code: .httpStatus, transient: false), .init(status: 403, code: .httpStatus, transient: false),
        .init(status: 413, code: .httpStatus, transient: false), .init(status: 429, code: .httpStatus, transient: true),
        .init(status: 500, code: .httpStatus, transient: true), .init(status: 504, code: .httpStatus, transient: true),
        .init(status: 529, code: .httpStatus, transient: true),
    ]

    @Test(arguments: anthropicStatuses)
    func anthropicStatusesMapToCodesAndTransience(_ expected: StatusCase) async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            standIn.inject(.status(expected.status))
            let failed = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test"))
            let error = try #require(failed.runtimeError)
            #expect(error.code == expected.code)
            #expect(error.isTransient == expected.transient)
            #expect(error.message.contains(standIn.baseURL))
            let next = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test"))
            #expect(next.error == nil)
        }
    }

    @Test func anthropicOverloadedSaysSo() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            standIn.inject(.status(529, count: 3))
            let client = Cloud.anthropic(standIn)
            var errors: [RuntimeError] = []
            for _ in 0..<3 { if let error = await Cloud.run(client, Cloud.request("claude-test")).runtimeError { errors.append(error) } }
            #expect(errors.count == 3)
            #expect(errors.allSatisfy { $0.isTransient && $0.message.contains("overloaded (529)") && $0.message.contains("Overloaded") })
            #expect(await Cloud.run(client, Cloud.request("claude-test")).error == nil)
        }
    }

    // MARK: - The SDKs' rules (findings C-B6 and section 4 of the study)

    /// The error of one generation against each stand-in after `fault`.
    static func errors(after fault: CloudFault) async throws -> [RuntimeError?] {
        let openAI = try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(fault)
            return await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test")).runtimeError
        }
        let anthropic = try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            standIn.inject(fault)
            return await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test")).runtimeError
        }
        return [openAI, anthropic]
    }

    @Test("C-B6: x-should-retry: false makes a 429 permanent; true makes a 400 transient")
    func theServersVerdictOnRetryingWins() async throws {
        for error in try await Self.errors(after: .response(429, headers: ["x-should-retry": "false", "retry-after": "1"])) {
            #expect(error?.isTransient == false)
        }
        for error in try await Self.errors(after: .response(400, headers: ["x-should-retry": "true"])) {
            #expect(error?.isTransient == true)
        }
    }

    @Test("C-B6: retry-after-ms is preferred to retry-after")
    func millisecondsArePreferred() async throws {
        for error in try await Self.errors(after: .response(429, headers: ["retry-after-ms": "1500", "retry-after": "9"])) {
            #expect(error?.isTransient == true)
            #expect(error?.retryAfter == 1.5)
        }
    }

    @Test("C-B6: a 429 without Retry-After is transient and leaves the wait to Baton's backoff")
    func aRateLimitWithoutAWait() async throws {
        for error in try await Self.errors(after: .response(429, headers: [:])) {
            #expect(error?.isTransient == true)
            #expect(error?.retryAfter == nil)
        }
    }

    @Test("C-B6: a 409 is retried, as both SDKs do")
    func aConflictIsTransient() async throws {
        for error in try await Self.errors(after: .response(409, headers: [:])) {
            #expect(error?.code == .httpStatus)
            #expect(error?.isTransient == true)
        }
    }

    @Test("C-B6: a Retry-After above 60 s fails at once, naming the wait asked for")
    func aLongWaitFailsNow() async throws {
        for error in try await Self.errors(after: .response(429, headers: ["retry-after": "3600"])) {
            #expect(error?.code == .retryTooLate)
            #expect(error?.isTransient == false)
            #expect(error?.message.contains("asks to wait 60 minutes") == true)
            #expect(error?.message.contains("longer than the 60 seconds Baton waits") == true)
        }
        for error in try await Self.errors(after: .response(503, headers: ["retry-after": "60"])) {
            #expect(error?.isTransient == true)
            #expect(error?.retryAfter == 60)
        }
    }

    @Test("C-B6: the executor makes one request when the server says not to retry, three when it says nothing")
    func theExecutorObeysXShouldRetry() async throws {
        for (headers, requests) in [(["x-should-retry": "false"], 1), ([:], 3)] {
            try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { openAI in
                try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { anthropic in
                    let snapshot = try Cloud.snapshot(openAIURL: openAI.baseURL, anthropicURL: anthropic.baseURL)
                    let catalog = RuntimeCatalog(
                        environment: ["OPENAI_TEST_KEY": Cloud.openAIKey, "ANTHROPIC_TEST_KEY": Cloud.anthropicKey],
                        keyHosts: Cloud.allowing(openAI.baseURL, anthropic.baseURL))
                    let executor = Executor(store: try RunStore.inMemory(), runtimes: catalog, sleep: { _ in })
                    let inputs = try RunInputs.resolve(snapshot.plan.inputs, given: ["task": "a parser"])
                    anthropic.inject(.response(529, headers: headers, count: 3))

                    let outcome = try await executor.start(snapshot, inputs: inputs, claim: .current())

                    if case .completed = outcome { Issue.record("the review should have failed: \(outcome)") }
                    #expect(anthropic.messages.count == requests)
                }
            }
        }
    }
}
