import Deferreds

/// A pretend network: every request returns deferreds that we fire by hand, later.
final class FakeNetwork {
    private var headers: [String: Deferred<String>] = [:]

    /// Starts a request; the deferred fires with the status line once the headers "arrive".
    func request(_ url: String) -> Deferred<String> {
        print("requesting \(url)")
        let d = Deferred<String>()
        headers[url] = d
        return d
    }

    /// The headers of `url` arrive.
    func respond(_ url: String) {
        print("headers of \(url) arrive")
        headers.removeValue(forKey: url)?.callback("200 OK")
    }
}

let network = FakeNetwork()
