import Foundation
import TestSupport
import Testing

/// End-to-end tests of the `getpage` binary against a WebServer running in the test process.
@Suite struct GetPageTests {
    // MARK: - Formats

    @Test func tutorialFormatPrintsWhatTheTutorialPrints() throws {
        // When URLs are given without options, each gets the tutorial's lines and the run exits 0.
        try withTestServer { server in
            let page = server.url("/page/1")
            let run = try getpage([page, server.url("/headers")])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("Requesting \(page)\n"))
            #expect(run.stdout.contains("version=(\"HTTP\", 1, 1)\ncode=200\nphrase='OK'\n"))
            #expect(run.stdout.contains("Content-Type: text/html; charset=utf-8\n"))
            #expect(run.stdout.contains("##### Received #####\n<!DOCTYPE html>"))
            #expect(run.stdout.contains("Finished: Response body fully received\n"))
            // The tutorial's User-Agent, as /headers echoes it.
            #expect(run.stdout.contains("User-Agent: twisted\n"))
            #expect(run.stderr.contains("getpage: 2 ok, 0 failed"))
        }
    }

    @Test func progressAlwaysDrawsAProgressLineOnStandardError() throws {
        // When --progress always is given (stderr is not a terminal here), a one-line progress with
        // the counts and the rate is drawn on standard error, and standard output stays clean.
        try withTestServer { server in
            let urls = (1...5).map { server.url("/page/\($0)") }
            let run = try getpage(["--progress", "always", "--format", "summary"] + urls)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.contains("\r"))
            #expect(run.stderr.contains("in flight"))
            #expect(run.stderr.contains("pages/s"))
            #expect(!run.stdout.contains("in flight"))
        }
    }

    @Test func jsonlHasOneObjectPerURLWithEveryField() throws {
        // When --format jsonl is used, each URL (invalid ones too) has one object with the documented fields.
        try withTestServer { server in
            let run = try getpage(["--format", "jsonl", server.url("/page/2"), server.url("/status/404"), "nope"])
            #expect(run.status == 1)
            let objects = try run.jsonLines()
            #expect(objects.count == 3)
            for object in objects {
                for key in ["url", "status", "bytes", "elapsed_ms", "attempts", "error", "file"] {
                    #expect(object[key] != nil, "\(key) missing in \(object)")
                }
            }
            let byURL = Dictionary(uniqueKeysWithValues: objects.map { ($0["url"] as? String ?? "", $0) })
            let ok = try #require(byURL[server.url("/page/2")])
            #expect(ok["status"] as? Int == 200)
            #expect(ok["bytes"] as? Int == 1937)
            #expect(ok["attempts"] as? Int == 1)
            #expect(ok["error"] is NSNull)
            let missing = try #require(byURL[server.url("/status/404")])
            #expect(missing["status"] as? Int == 404)
            #expect(missing["error"] as? String == "HTTP 404 Not Found")
            let invalid = try #require(byURL["nope"])
            #expect((invalid["error"] as? String)?.hasPrefix("invalid URL") == true)
            #expect(invalid["attempts"] as? Int == 0)
        }
    }

    @Test func jsonStringsAreEscaped() throws {
        // When a URL line holds quotes and backslashes, the jsonl output still parses and keeps them.
        try withTestServer { server in
            let tricky = server.url("/status/404?q=\"a\\b\"")
            let run = try getpage(["--format", "jsonl", tricky])
            let objects = try run.jsonLines()
            #expect(objects.first?["url"] as? String == tricky)
        }
    }

    // MARK: - Concurrency

    @Test func inFlightNeverExceedsTheConcurrencyLimit() throws {
        // When 12 slow URLs are fetched with --concurrency 3, the server sees exactly 3 at once at most.
        try withTestServer { server in
            let urls = (1...12).map { server.url("/slow?n=\($0)") }
            let run = try getpage(["--format", "summary", "--concurrency", "3"] + urls)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(server.counters.requests == 12)
            #expect(server.counters.maxConcurrent == 3)
        }
    }

    @Test func aStreamedInputFileHoldsTheLimitToo() throws {
        // When URLs come from --input, they are all fetched and at most --concurrency at a time.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            try directory.write("urls.txt", (1...10).map { server.url("/slow?n=\($0)") }.joined(separator: "\n"))
            let run = try getpage(["--format", "summary", "-c", "2", "--input", directory.file("urls.txt")])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(server.counters.requests == 10)
            #expect(server.counters.maxConcurrent == 2)
        }
    }

    @Test func standardInputIsReadAsAURLList() throws {
        // When --input is -, URLs are read from a pipe; comments and blank lines are skipped.
        try withTestServer { server in
            let list = "# pages\n\n\(server.url("/page/1"))\n   \n\(server.url("/page/2"))\n"
            let run = try getpage(["--format", "summary", "--input", "-"], stdin: list)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.split(separator: "\n").filter { $0.hasPrefix("OK ") }.count == 2)
        }
    }

    @Test func theSummaryFormatPrintsOneAlignedLinePerURL() throws {
        // When pages of 100 B, 2,150 B and 1,572,864 B, a 404 and a refused port are fetched, each
        // gets one line: verdict, status, size (B, KiB, MiB, one decimal), time, URL and any error.
        try withTestServer { server in
            let urls = [server.url("/bytes/100"), server.url("/bytes/2150"), server.url("/bytes/1572864"),
                        server.url("/status/404"), "http://127.0.0.1:1/refused"]
            let run = try getpage(["--format", "summary", "-c", "1"] + urls)
            #expect(run.status == 1, "\(run.stderr)")
            let lines = run.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 5, "\(run.stdout)")
            let expected = [
                "OK    200      100 B", "OK    200    2.1 KiB", "OK    200    1.5 MiB", "FAIL  404 ", "FAIL  ---        0 B",
            ]
            for (line, (start, url)) in zip(lines, zip(expected, urls)) {
                #expect(line.hasPrefix(start + " "), "\(line)")
                // The time is right-aligned in 8 columns ("   12 ms"), then two spaces and the URL.
                let afterSize = line.dropFirst(21)
                #expect(afterSize.count > 10 && afterSize.prefix(8).hasSuffix(" ms"), "\(line)")
                #expect(afterSize.dropFirst(8).hasPrefix("  " + url), "\(line)")
            }
            #expect(lines[3].hasSuffix(": HTTP 404 Not Found"), "\(lines[3])")
            #expect(lines[4].contains("/refused: "), "\(lines[4])")
        }
    }

    @Test func cacertTrustsACertificateTheSystemDoesNot() throws {
        // When an https server's certificate is self-signed, getpage refuses it (TLS is always
        // verified) unless --cacert names it; a --cacert that cannot be read is a usage error.
        let server = try TLSServer()
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.port)/"
        let refused = try getpage(["--format", "summary", url])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stdout.hasPrefix("FAIL  ---"), "\(refused.stdout)")
        let trusted = try getpage(["--format", "summary", "--cacert", server.certificate, url])
        #expect(trusted.status == 0, "\(trusted.stdout) \(trusted.stderr)")
        #expect(trusted.stdout.hasPrefix("OK    200"), "\(trusted.stdout)")
        let unreadable = try getpage(["--cacert", server.directory + "/none.pem", url])
        #expect(unreadable.status == 2)
        #expect(unreadable.stderr.contains("cannot read --cacert"), "\(unreadable.stderr)")
        let directory = try getpage(["--cacert", server.directory, url])
        #expect(directory.status == 2)
        #expect(directory.stderr.contains("is not a file"), "\(directory.stderr)")
    }

    @Test func aCertificateForAnotherNameSaysSoAsCurlDoes() throws {
        // When the server's certificate (from the CA given with --cacert) is for h1.test and the
        // URL names localhost, getpage's failure line says why, in libcurl's words as curl's CLI
        // prints them, not the generic "SSL peer certificate or SSH remote key was not OK".
        let ca = try TestCA()
        defer { ca.remove() }
        let server = try TLSServer(certificate: try ca.issue(for: ["h1.test"]))
        defer { server.stop() }
        let url = "https://localhost:\(server.port)/"
        let result = try getpage(["--format", "summary", "--cacert", ca.certificate, url])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("FAIL  ---"), "\(result.stdout)")
        #expect(result.stdout.contains("no alternative certificate subject name matches target host name 'localhost'"),
                "\(result.stdout)")
    }

    @Test(.enabled(if: systemCertificatesCanBeReplaced, "needs root and mount namespaces (unshare --mount)"))
    func cacertReplacesTheSystemsCertificatesInsteadOfAddingToThem() throws {
        // When the server's CA is in the system's CA directory and --cacert names another CA, getpage
        // refuses the server: the file replaces the system's trust (libcurl's compiled-in CA path
        // included), it is not added to it.
        //
        // The system's CA directory is made for the test: getpage runs in a mount namespace of its
        // own where a directory holding the server's CA (hashed with `openssl rehash`, as the
        // system's is) is bind-mounted over /etc/ssl/certs, libcurl's compiled-in CA path. The
        // default CA bundle in it (ca-certificates.crt) holds an unrelated CA, so that the first run
        // below, trusted with no --cacert, shows the directory itself is read: what --cacert must
        // turn off. Nothing outside the child process sees the mount.
        let files = try TemporaryDirectory()
        defer { files.cleanUp() }
        let systemCA = try TestCertificateAuthority(in: files.path, name: "system")
        let otherCA = try TestCertificateAuthority(in: files.path, name: "other")
        let bundleCA = try TestCertificateAuthority(in: files.path, name: "bundle")
        let systemDirectory = files.file("certs")
        try FileManager.default.createDirectory(atPath: systemDirectory, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: systemCA.certificate, toPath: systemDirectory + "/system.pem")
        try FileManager.default.copyItem(atPath: bundleCA.certificate,
                                         toPath: systemDirectory + "/ca-certificates.crt")
        #expect(runCommand("/usr/bin/openssl", ["rehash", systemDirectory]) == 0)
        let server = try TLSServer(issuer: systemCA)
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.port)/"

        let bySystem = try getpageWithSystemCertificates(systemDirectory, ["--format", "summary", url])
        #expect(bySystem.status == 0, "the test's system CA directory was not used: \(bySystem.stdout) \(bySystem.stderr)")
        #expect(bySystem.stdout.hasPrefix("OK    200"), "\(bySystem.stdout)")

        let other = try getpageWithSystemCertificates(
            systemDirectory, ["--format", "summary", "--cacert", otherCA.certificate, url])
        #expect(other.status == 1, "accepted with --cacert naming another CA: \(other.stdout) \(other.stderr)")
        #expect(other.stdout.hasPrefix("FAIL  ---"), "\(other.stdout)")

        let same = try getpageWithSystemCertificates(
            systemDirectory, ["--format", "summary", "--cacert", systemCA.certificate, url])
        #expect(same.status == 0, "\(same.stdout) \(same.stderr)")
    }

    @Test func withoutLibcurlHttpsFailsClearlyAndHttpStillWorks() throws {
        // When libcurl cannot be loaded (here: SWIFT_DEFERREDS_LIBCURL names a missing file), an
        // https URL with --http2 (which needs libcurl) fails with a message saying so, and http
        // URLs, which do not need it, succeed.
        try withTestServer { server in
            let run = try getpage(["--format", "summary", "--http2", "-c", "1", server.url("/bytes/10"),
                                   "https://127.0.0.1:1/"],
                                  shell: "export SWIFT_DEFERREDS_LIBCURL=/nonexistent/libcurl.so.4")
            #expect(run.status == 1, "\(run.stderr)")
            let lines = run.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 2, "\(run.stdout)")
            #expect(lines.first?.hasPrefix("OK    200") == true, "\(run.stdout)")
            #expect(lines.last?.hasPrefix("FAIL  ---") == true, "\(run.stdout)")
            #expect(lines.last?.contains("libcurl could not be loaded") == true, "\(run.stdout)")
        }
    }

    @Test func theDemoKeepsAtMostTwoInFlight() throws {
        // When getpage runs with no URL, it serves and fetches 20 pages offline, never more than 2 at once.
        let run = try getpage([])
        #expect(run.status == 0, "\(run.stderr)")
        let counts = run.stdout.split(separator: "\n").compactMap { line -> Int? in
            guard let range = line.range(of: "in flight ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        #expect(counts.count == 40)
        #expect(counts.max() == 2)
        #expect(run.stdout.split(separator: "\n").filter { $0.hasPrefix("done") && $0.contains(" 200 ") }.count == 20)
        #expect(run.stderr.contains("20 ok, 0 failed"))
    }

    // MARK: - Output directory

    @Test func aBodyCutMidwayLeavesNoFileAndResumeFetchesOnlyWhatIsMissing() throws {
        // When a body is cut mid-way, no file (partial or temporary) is left; --resume then skips the saved page.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let page = server.url("/page/3")
            let cut = server.url("/fault/reset-body?length=100000")
            let first = try getpage(["--format", "jsonl", "--output-dir", directory.file("out"), page, cut])
            #expect(first.status == 1)
            let saved = try directory.contents("out")
            #expect(saved.count == 1, "\(saved)")
            let file = try #require(saved.first)
            #expect(file.hasPrefix("127.0.0.1_") && file.contains("page_3"))
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory.file("out/" + file)))
            #expect(String(decoding: bytes, as: UTF8.self).contains("<h1>Demo page 3</h1>"))

            let second = try getpage(
                ["--format", "jsonl", "--output-dir", directory.file("out"), "--resume", page, cut])
            let objects = try second.jsonLines()
            let skipped = objects.first { $0["url"] as? String == page }
            #expect(skipped?["skipped"] as? Bool == true)
            #expect(server.counters.paths.filter { $0 == "/page/3" }.count == 1)
            #expect(server.counters.paths.filter { $0.hasPrefix("/fault/reset-body") }.count == 2)
            #expect(try directory.contents("out") == saved)
        }
    }

    // ThreadSanitizer's runtime cannot start under `ulimit -f 64`: it writes a file in /dev/shm and
    // maps it, and the short file ends in SIGBUS before main. The AddressSanitizer run keeps the test.
    @Test(.disabled(if: runningUnderThreadSanitizer, "ThreadSanitizer cannot start under ulimit -f"))
    func aWriteErrorFailsThatURLAndTheRunGoesOn() throws {
        // When a file cannot be written (file size limit), that URL fails, its file is removed, others are saved.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let run = try getpage(
                ["--format", "summary", "--output-dir", directory.path, server.url("/bytes/300000"),
                 server.url("/page/1"), server.url("/page/2")],
                shell: "ulimit -f 64")
            #expect(run.status == 1)
            #expect(run.stdout.contains("FAIL") && run.stdout.contains("File too large"), "\(run.stdout)")
            let files = try directory.contents()
            #expect(files.count == 2, "\(files)")
            #expect(!files.contains { $0.contains("bytes") || $0.hasSuffix(".part") })
        }
    }

    // MARK: - Retries and timeouts

    @Test func retriesOutlastAServiceUnavailable() throws {
        // When a URL fails twice with 503 and --retries 2 is given, the third attempt succeeds.
        try withTestServer { server in
            let url = server.url("/fault/retry-after?fails=2&key=retries-ok")
            let run = try getpage(["--format", "jsonl", "--retries", "2", "--retry-backoff", "0.01", url])
            #expect(run.status == 0, "\(run.stderr)")
            let object = try #require(try run.jsonLines().first)
            #expect(object["status"] as? Int == 200)
            #expect(object["attempts"] as? Int == 3)
            #expect(run.stderr.contains("retrying"))
        }
    }

    @Test func retriesThatRunOutReportTheLastStatus() throws {
        // When 503 outlasts the retries, the URL fails with 503 after retries + 1 attempts; exit status 1.
        try withTestServer { server in
            let url = server.url("/fault/retry-after?fails=5&key=retries-out")
            let run = try getpage(["--format", "jsonl", "--retries", "1", "--retry-backoff", "0.01", url])
            #expect(run.status == 1)
            let object = try #require(try run.jsonLines().first)
            #expect(object["status"] as? Int == 503)
            #expect(object["attempts"] as? Int == 2)
        }
    }

    @Test func retriesFollowCurlsStatusSet() throws {
        // When --retries 2 is given, a 500 is asked three times (then reported), a 501 once: the
        // RetryPolicy's statuses are curl's --retry set, not every 5xx.
        try withTestServer { server in
            let retried = server.url("/status/500")
            let final = server.url("/status/501")
            let run = try getpage(["--format", "jsonl", "--concurrency", "1", "--retries", "2",
                                   "--retry-backoff", "0.01", retried, final])
            #expect(run.status == 1)
            let objects = try run.jsonLines()
            let five = try #require(objects.first { $0["url"] as? String == retried })
            #expect(five["status"] as? Int == 500)
            #expect(five["attempts"] as? Int == 3)
            let one = try #require(objects.first { $0["url"] as? String == final })
            #expect(one["status"] as? Int == 501)
            #expect(one["attempts"] as? Int == 1)
            #expect(server.counters.paths.filter { $0 == "/status/500" }.count == 3)
            #expect(server.counters.paths.filter { $0 == "/status/501" }.count == 1)
            #expect(run.stderr.contains("after: HTTP 500"), "\(run.stderr)")
        }
    }

    @Test func aRefusedConnectionIsRetriedThenFails() throws {
        // When nothing listens, each attempt is refused and the URL fails after all of them.
        let run = try getpage(["--format", "jsonl", "--retries", "2", "--retry-backoff", "0.01", "http://127.0.0.1:1/"])
        #expect(run.status == 1)
        let object = try #require(try run.jsonLines().first)
        #expect(object["attempts"] as? Int == 3)
        #expect((object["error"] as? String)?.contains("refused") == true)
    }

    @Test func theTimeoutCoversHeadersAndBody() throws {
        // When the server stalls before the headers or mid-body, --timeout fails each URL in time.
        try withTestServer { server in
            let started = Date()
            let run = try getpage(["--format", "jsonl", "--timeout", "0.3", server.url("/fault/stall-headers"),
                                   server.url("/fault/stall-body?length=10000"), server.url("/page/1")])
            #expect(Date().timeIntervalSince(started) < 3)
            #expect(run.status == 1)
            let objects = try run.jsonLines()
            let failed = objects.filter { ($0["error"] as? String)?.contains("timed out") == true }
            #expect(failed.count == 2, "\(objects)")
            #expect(objects.contains { $0["status"] as? Int == 200 && $0["error"] is NSNull })
        }
    }

    // MARK: - Bad input

    @Test func urlCredentialsAreNeverPrintedNorInAFileName() throws {
        // When URLs carry user:password, the saved file's name has neither, and every output (jsonl
        // records, summary and tutorial lines, failures, retries, invalid lines) shows the URL with
        // the password as *** (as curl's messages do), never the password itself.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let page = server.url("/page/1").replacingOccurrences(of: "http://", with: "http://user:s3cret@")
            let missing = server.url("/status/404").replacingOccurrences(of: "http://", with: "http://user:s3cret@")
            let refused = "http://user:s3cret@127.0.0.1:1/"
            let invalid = "http://user:s3cret@a b/"
            let runs = [
                try getpage(["--format", "jsonl", "--output-dir", directory.file("out"), "--retries", "2",
                             "--retry-backoff", "0.01", page, missing, refused, invalid]),
                try getpage(["--format", "summary", "--retries", "2", "--retry-backoff", "0.01", page, missing, refused]),
                try getpage(["--retries", "2", "--retry-backoff", "0.01", page, missing, refused]),
            ]
            for run in runs {
                #expect(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"), "\(run.stdout)\n\(run.stderr)")
            }
            let masked = page.replacingOccurrences(of: "s3cret", with: "***")
            let objects = try runs[0].jsonLines()
            #expect(Set(objects.compactMap { $0["url"] as? String }) == [
                masked, missing.replacingOccurrences(of: "s3cret", with: "***"), "http://user:***@127.0.0.1:1/",
                "http://user:***@a b/",
            ])
            #expect(runs[0].stderr.contains("getpage: retrying http://user:***@127.0.0.1:1/"), "\(runs[0].stderr)")
            #expect(runs[1].stdout.contains("  \(masked)"), "\(runs[1].stdout)")
            #expect(runs[2].stdout.contains("Requesting \(masked)"), "\(runs[2].stdout)")
            let saved = try directory.contents("out")
            #expect(saved.count == 1, "\(saved)")
            #expect(saved.allSatisfy { !$0.contains("s3cret") && !$0.contains("user") && $0.hasPrefix("127.0.0.1_") },
                    "\(saved)")
        }
    }

    @Test func aURLWithAnotherSchemeIsReportedAsUnsupported() throws {
        // When the URLs include file:///etc/passwd and mailto:a@example.com, each is reported as an
        // unsupported scheme (not as a malformed URL), nothing is lost, and the http URL is fetched.
        try withTestServer { server in
            let run = try getpage(["--format", "jsonl", "file:///etc/passwd", "mailto:a@example.com",
                                   server.url("/page/1")])
            #expect(run.status == 1)
            let errors = Dictionary(try run.jsonLines().map { ($0["url"] as? String ?? "", $0["error"] as? String) },
                                    uniquingKeysWith: { first, _ in first })
            #expect(errors == [
                "file:///etc/passwd": "invalid URL: unsupported scheme 'file' (http or https only)",
                "mailto:a@example.com": "invalid URL: unsupported scheme 'mailto' (http or https only)",
                server.url("/page/1"): nil,
            ])
            #expect(run.stderr.contains("argument 2: invalid URL \"mailto:a@example.com\": unsupported scheme 'mailto'"),
                    "\(run.stderr)")
        }
    }

    @Test func invalidURLLinesAreReportedAndSkipped() throws {
        // When --input has lines that are not URLs, each is reported with its line number, the rest fetched.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let lines = [server.url("/page/1"), "ftp://example.com/", "# fine", "http://", server.url("/page/2")]
            try directory.write("urls.txt", lines.joined(separator: "\n") + "\n")
            let run = try getpage(["--format", "summary", "--input", directory.file("urls.txt")])
            #expect(run.status == 1)
            #expect(run.stderr.contains("line 2: invalid URL \"ftp://example.com/\": unsupported scheme"))
            #expect(run.stderr.contains("line 4: invalid URL \"http://\": no host"))
            #expect(run.stdout.split(separator: "\n").filter { $0.hasPrefix("OK ") }.count == 2)
            #expect(run.stderr.contains("2 ok, 2 failed (2 invalid)"))
        }
    }

    @Test func aMissingInputFileIsAUsageError() throws {
        // When --input names no file, getpage exits 2 with a clear message.
        let run = try getpage(["--input", "/nonexistent/urls.txt"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("cannot read --input /nonexistent/urls.txt: No such file or directory"))
    }

    @Test func aBadHeaderIsRefusedBeforeAnyRequest() throws {
        // When a --header is not "Name: value" (or its name is not a token), getpage exits 2 and sends nothing.
        try withTestServer { server in
            let noColon = try getpage(["--header", "NoColon", server.url("/page/1")])
            #expect(noColon.status == 2)
            #expect(noColon.stderr.contains("expected \"Name: value\""))
            let badName = try getpage(["-H", "Bad Name: x", server.url("/page/1")])
            #expect(badName.status == 2)
            #expect(server.counters.requests == 0)
        }
    }

    @Test func headersAreSent() throws {
        // When --header and --user-agent are given, the server receives them.
        try withTestServer { server in
            let run = try getpage(["-H", "X-Test: yes", "--user-agent", "probe/2", server.url("/headers")])
            #expect(run.status == 0)
            #expect(run.stdout.contains("X-Test: yes\n"))
            #expect(run.stdout.contains("User-Agent: probe/2\n"))
        }
    }

    @Test func anUnwritableOutputDirectoryIsAUsageError() throws {
        // When --output-dir cannot be made, getpage exits 2 before any request.
        try withTestServer { server in
            let run = try getpage(["--output-dir", "/proc/getpage-test", server.url("/page/1")])
            #expect(run.status == 2)
            #expect(run.stderr.contains("output directory"))
            #expect(server.counters.requests == 0)
        }
    }

    // MARK: - Redirects, compression, limits

    @Test func redirectsAreFollowedUpToTheLimit() throws {
        // When --max-redirects allows it, a chain of 3 redirects ends in 200; with 0 the 302 itself is the result.
        try withTestServer { server in
            let chain = server.url("/fault/redirect-chain?n=3")
            let followed = try getpage(["--format", "jsonl", chain])
            #expect(try followed.jsonLines().first?["status"] as? Int == 200)
            let notFollowed = try getpage(["--format", "jsonl", "--max-redirects", "0", chain])
            #expect(try notFollowed.jsonLines().first?["status"] as? Int == 302)
            let tooMany = try getpage(["--format", "jsonl", "--max-redirects", "2", chain])
            #expect(tooMany.status == 1)
        }
    }

    @Test func compressedBodiesAreDecoded() throws {
        // When --compressed is given, a gzip body arrives decoded (its full plain size).
        try withTestServer { server in
            let run = try getpage(["--format", "jsonl", "--compressed", server.url("/gzip?size=5000")])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(try run.jsonLines().first?["bytes"] as? Int == 5000)
        }
    }

    @Test func maxBodyFailsALargerBody() throws {
        // When a body passes --max-body, that URL fails.
        try withTestServer { server in
            let run = try getpage(["--format", "jsonl", "--max-body", "1000", server.url("/bytes/5000")])
            #expect(run.status == 1)
            #expect((try run.jsonLines().first?["error"] as? String)?.contains("1000") == true)
        }
    }

    // MARK: - Ctrl-C

    @Test func anInterruptCancelsRemovesPartialFilesAndExits130() throws {
        // When SIGINT arrives mid-body, the download is cancelled, its temporary file removed, and the exit is 130.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let tool = try RunningTool("getpage", [
                "--format", "summary", "--output-dir", directory.path, server.url("/page/1"),
                server.url("/fault/stall-body?length=100000"), server.url("/page/2"),
            ])
            #expect(waitUntil { server.counters.paths.contains { $0.hasPrefix("/fault/stall-body") } })
            // Let the first half of the body reach the temporary file.
            #expect(waitUntil { (try? directory.contents().contains { $0.hasSuffix(".part") }) == true })
            tool.process.signal(SIGINT)
            let run = tool.finish()
            #expect(run.status == 130)
            #expect(run.stderr.contains("interrupted"))
            #expect(!(try directory.contents()).contains { $0.hasSuffix(".part") || $0.contains("stall") })
        }
    }
}
