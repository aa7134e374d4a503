import BatonEngine
import BatonTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Who may talk to `baton serve`, and what it refuses: loopback by default, the token, the Host check, the actions.
@Suite struct ServeSecurityTests {
    @Test func loopbackHostsAreKnownAndOthersNeedAToken() throws {
        for host in ["127.0.0.1", "127.5.6.7", "::1", "[::1]", "localhost", "LocalHost"] {
            #expect(ServeOptions.isLoopback(host), "\(host)")
        }
        for host in ["0.0.0.0", "192.168.1.2", "::", "example.com", "127.0.0", "128.0.0.1", "localhost.example.com"] {
            #expect(!ServeOptions.isLoopback(host), "\(host)")
        }
        #expect(
            throws: ServeError(
                .usage,
                "--host 0.0.0.0 exposes runs (prompts, outputs) to the network; pass --token or --token-file, or serve on 127.0.0.1")
        ) {
            try ServeOptions(host: "0.0.0.0", databasePath: "/nowhere").validate()
        }
        try ServeOptions(host: "0.0.0.0", databasePath: "/nowhere", token: "0123456789abcdef").validate()
        try ServeOptions(databasePath: "/nowhere").validate()
    }

    @Test func shortEmptyAndUnsafeTokensAreRefused() {
        for token in ["", "short", "0123456789abcde", "0123456789 abcdef", "0123456789abcdef;x", "0123456789abcdéf"] {
            #expect((try? ServeOptions.checkToken(token)) == nil, "\(token) was accepted")
            #expect(throws: ServeError.self) { try ServeOptions(databasePath: "/nowhere", token: token).validate() }
        }
        #expect((try? ServeOptions.checkToken("0123456789abcdef")) != nil)
    }

    @Test func aTokenFileIsReadOnlyWhenOnlyItsOwnerCanReadIt() throws {
        let folder = NSTemporaryDirectory() + "baton-token-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/token"
        try "0123456789abcdef0123\n".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect(try ServeOptions.readToken(file: file) == "0123456789abcdef0123")

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        let open = try #require(throws: ServeError.self) { try ServeOptions.readToken(file: file) }
        #expect(open.code == .permission)
        #expect(open.message.contains("chmod 600"))
        let missing = try #require(throws: ServeError.self) { try ServeOptions.readToken(file: folder + "/none") }
        #expect(missing.code == .notFound)
    }

    @Test func noDatabaseIsRefusedBeforeListening() throws {
        let error = try #require(throws: ServeError.self) {
            try DashboardServer(options: ServeOptions(databasePath: "/nowhere/runs.sqlite"))
        }
        #expect(error == ServeError(.notFound, "no run database at /nowhere/runs.sqlite; run a pipeline first, or pass --db"))
        #expect(!FileManager.default.fileExists(atPath: "/nowhere/runs.sqlite"))
    }

    @Test func aPortInUseIsRefusedWithTheAddress() async throws {
        let fixture = try ServeFixture("port")
        _ = try await fixture.completedRun()
        try await fixture.start()
        let port = try #require(fixture.server?.port)
        let second = try DashboardServer(options: ServeOptions(port: port, databasePath: fixture.db))
        let error = try await #require(throws: ServeError.self) { try await second.start() }
        await fixture.stop()
        #expect(error == ServeError(.cannotListen, "cannot listen on 127.0.0.1:\(port): address in use; pass --port"))
    }

    @Test func aRequestForAnotherHostNameIsForbidden() async throws {
        let fixture = try ServeFixture("host")
        _ = try await fixture.completedRun()
        let base = try await fixture.start()
        let port = try #require(fixture.server?.port)

        let rebound = try await ServeHTTP.get(base + "/api/runs", headers: [("Host", "evil.example:\(port)")])
        let otherPort = try await ServeHTTP.get(base + "/", headers: [("Host", "127.0.0.1:1")])
        let byName = try await ServeHTTP.get(base + "/api/runs", headers: [("Host", "localhost:\(port)")])
        let byV6 = try await ServeHTTP.get(base + "/api/runs", headers: [("Host", "[::1]:\(port)")])
        let plain = try await ServeHTTP.get(base + "/api/runs")
        await fixture.stop()

        #expect(rebound.status == 403)
        #expect((try rebound.json()["error"] as? String)?.contains("evil.example") == true)
        #expect(rebound.headers["X-Content-Type-Options"].first == "nosniff")
        #expect(otherPort.status == 403)
        #expect(otherPort.body.contains("<h1>Forbidden</h1>"), "\(otherPort.body)")
        #expect(otherPort.body.contains("127.0.0.1:1"))
        #expect(byName.status == 200 && byV6.status == 200 && plain.status == 200)
    }

    @Test func withATokenEveryRequestNeedsIt() async throws {
        let token = "s3cret-token-0123456789"
        let fixture = try ServeFixture("token")
        let id = try await fixture.completedRun()
        let base = try await fixture.start(token: token)

        let bare = try await ServeHTTP.get(base + "/api/runs")
        let wrong = try await ServeHTTP.get(base + "/api/runs", headers: [("Authorization", "Bearer s3cret-token-0123456780")])
        let bearer = try await ServeHTTP.get(base + "/api/runs", headers: [("Authorization", "Bearer \(token)")])
        let page = try await ServeHTTP.get(base + "/runs/\(id)")
        let stream = try await ServeHTTP.get(base + "/api/runs/\(id)/events")
        let asset = try await ServeHTTP.get(base + "/assets/dashboard.js")
        let opened = try await ServeHTTP.get(base + "/runs/\(id)?stage=plan&token=\(token)")
        let wrongQuery = try await ServeHTTP.get(base + "/runs/\(id)?token=nope")
        let withCookie = try await ServeHTTP.get(base + "/runs/\(id)", headers: [("Cookie", "theme=dark; baton_token=\(token)")])
        let apiWithCookie = try await ServeHTTP.get(base + "/api/runs/\(id)", headers: [("Cookie", "baton_token=\(token)")])
        await fixture.stop()

        #expect(bare.status == 401)
        #expect((try bare.json()["error"] as? String)?.contains("?token=") == true)
        #expect(wrong.status == 401)
        #expect(bearer.status == 200)
        #expect(page.status == 401)
        #expect(page.headers["Content-Type"].first == "text/html; charset=utf-8")
        #expect(page.body.contains("?token="))
        #expect(!page.body.contains(token))
        #expect(stream.status == 401)
        #expect(asset.status == 401)
        #expect(opened.status == 303)
        #expect(opened.headers["Location"].first == "/runs/\(id)?stage=plan")
        #expect(opened.headers["Set-Cookie"].first == "baton_token=\(token); HttpOnly; SameSite=Strict; Path=/")
        #expect(wrongQuery.status == 401)
        #expect(withCookie.status == 200)
        #expect(withCookie.body.contains("data-run-id=\"\(id)\""))
        #expect(apiWithCookie.status == 200)
    }

    @Test func actionsNeedTheFlagAndTheRequestHeader() async throws {
        let fixture = try ServeFixture("actions")
        let id = try await fixture.completedRun()
        let base = try await fixture.start()
        let off = try await ServeHTTP.post(base + "/api/runs/\(id)/resume")
        await fixture.stop()
        #expect(off.status == 403)
        #expect(try off.json()["error"] as? String == "actions are off; restart baton serve with --allow-actions")

        let allowed = try ServeFixture("actions-on")
        let done = try await allowed.completedRun()
        let running = try allowed.runningRun()
        let base2 = try await allowed.start(allowActions: true)
        let noHeader = try await ServeHTTP.post(base2 + "/api/runs/\(done)/resume", headers: [])
        let completed = try await ServeHTTP.post(base2 + "/api/runs/\(done)/resume")
        let badStage = try await ServeHTTP.post(base2 + "/api/runs/\(done)/rerun", body: #"{"from":"nosuch"}"#)
        let noBody = try await ServeHTTP.post(base2 + "/api/runs/\(done)/rerun")
        let idle = try await ServeHTTP.post(base2 + "/api/runs/\(done)/interrupt")
        let unheld = try await ServeHTTP.post(base2 + "/api/runs/\(running)/interrupt")
        let unknown = try await ServeHTTP.post(base2 + "/api/runs/20200101-000000-0000/resume")
        await allowed.stop()

        #expect(noHeader.status == 403)
        #expect((try noHeader.json()["error"] as? String)?.contains("X-Baton-Request: 1") == true)
        #expect(completed.status == 409)
        #expect(try completed.json()["error"] as? String == "run \(done) already completed; rerun it from a stage instead")
        #expect(badStage.status == 400)
        #expect(try badStage.json()["error"] as? String == "run \(done) has no stage 'nosuch'; its stages: plan, build")
        #expect(noBody.status == 400)
        #expect(idle.status == 409)
        #expect(unheld.status == 409)
        #expect(unknown.status == 404)
    }
}
