import Deferreds
import Glibc
import Reactor
import Testing

@testable import WebServer

/// A fresh temporary directory holding `files` (relative path → bytes); removed by `cleanUp`.
private struct TemporaryDirectory {
    let path: String

    init(_ files: [String: [UInt8]]) throws {
        var template = Array("/tmp/webserver-dir-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw GunzipError("mkdtemp failed")
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        for (name, bytes) in files {
            let parts = name.split(separator: "/")
            for depth in 1..<parts.count {
                mkdir(path + "/" + parts[..<depth].joined(separator: "/"), 0o755)
            }
            let fd = open(path + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw GunzipError("cannot create \(name)") }
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }

    func cleanUp() {
        var argv: [UnsafeMutablePointer<CChar>?] = ["rm", "-rf", path].map { (text: String) in strdup(text) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        if posix_spawn(&pid, "/bin/rm", nil, nil, &argv, environ) == 0 {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

@Suite struct DirectoryRouteTests {
    @Test func filesListingsAndTraversal() throws {
        // When a directory is served, its files come back whole (a large one streamed), a
        // subdirectory without index.html is listed, one with index.html shows it, a path with ".."
        // or a missing file is 404, and a directory without its "/" is redirected.
        let big = WebServer.patternBytes(count: 300_000)
        let directory = try TemporaryDirectory([
            "hello.txt": Array("hello file\n".utf8),
            "big.bin": big,
            "sub/a.txt": Array("a\n".utf8),
            "site/index.html": Array("<p>index</p>".utf8),
        ])
        defer { directory.cleanUp() }
        var responses: [TestResponse] = []
        try withServer { server, reactor, finish in
            server.serveDirectory(directory.path, at: "/static")
            let paths = [
                "/static/hello.txt", "/static/big.bin", "/static/sub/", "/static/site/", "/static/../../etc/passwd",
                "/static/%2e%2e/x", "/static/missing", "/static/sub",
            ]
            let requests = paths.map { "GET \($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined()
            _ = exchange(reactor, server, requests, methods: paths.map { _ in "GET" }).addCallback { result, _ in
                responses = result
                finish()
            }
        }
        try #require(responses.count == 8)
        #expect(responses[0].text == "hello file\n")
        #expect(responses[0].headers["Content-Type"] == "text/plain; charset=utf-8")
        #expect(responses[1].body == big)
        #expect(responses[1].headers["Content-Length"] == "300000")
        #expect(responses[2].text.contains("href=\"a.txt\""))
        #expect(responses[3].text == "<p>index</p>")
        #expect(responses[4].status == 404)
        #expect(responses[5].status == 404)
        #expect(responses[6].status == 404)
        #expect(responses[7].status == 301)
        #expect(responses[7].headers["Location"] == "/static/sub/")
    }

    @Test func aLargeDirectoryIsListedWhole() throws {
        // When a directory of 4,000 files is listed (glibc reads its entries in buffers it packs to
        // the end), every file is named once.
        var files: [String: [UInt8]] = [:]
        for index in 0..<4000 { files["many/file-\(index).txt"] = [] }
        let directory = try TemporaryDirectory(files)
        defer { directory.cleanUp() }
        var response: TestResponse?
        try withServer { server, reactor, finish in
            server.serveDirectory(directory.path, at: "/static")
            _ = exchange(reactor, server, "GET /static/many/ HTTP/1.1\r\nHost: t\r\n\r\n", methods: ["GET"])
                .addCallback { result, _ in
                    response = result.first
                    finish()
                }
        }
        #expect(response?.status == 200)
        let links = (response?.text ?? "").components(separatedBy: "href=\"").dropFirst()
            .map { $0.prefix { $0 != "\"" } }
        #expect(Set(links) == Set((0..<4000).map { "file-\($0).txt"[...] }))
        #expect(links.count == 4000)
    }

    @Test func nonGetMethodsAre405() throws {
        // When a directory file is POSTed to, the answer is 405 with Allow: GET, HEAD.
        let directory = try TemporaryDirectory(["f.txt": [1]])
        defer { directory.cleanUp() }
        var response: TestResponse?
        try withServer { server, reactor, finish in
            server.serveDirectory(directory.path, at: "/d/")
            _ = exchange(
                reactor, server, "POST /d/f.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", methods: ["POST"]
            )
            .addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.status == 405)
        #expect(response?.headers["Allow"] == "GET, HEAD")
    }
}
