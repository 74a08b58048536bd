import Glibc

/// Serving the files of a directory.
extension WebServer {
    /// Serves the files under the directory `path` at the URL prefix `prefix`.
    ///
    /// `GET {prefix}/a/b.txt` answers with the file `{path}/a/b.txt`: files up to 64 KiB are read
    /// at once, larger ones streamed from the file as the connection drains. A directory answers
    /// with its `index.html` if it has one, else an HTML listing (a directory URL without its
    /// trailing "/" is redirected to it). Paths with a `..` segment, missing files and anything
    /// that is not a regular file or directory are 404; methods other than GET and HEAD are 405.
    /// Text types (HTML, CSS, JavaScript, JSON, plain text, SVG) are gzip-encoded when asked.
    ///
    /// ```swift
    /// server.serveDirectory("/srv/site", at: "/static")
    /// ```
    public func serveDirectory(_ path: String, at prefix: String) {
        let root = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        let base = prefix.hasSuffix("/") ? prefix : prefix + "/"
        if base.count > 1 {
            route(String(base.dropLast())) { _ in .redirect(to: base, status: 301) }
        }
        routePrefix(base) { request, rest in
            WebServer.serveFile(root: root, base: base, request: request, rest: rest)
        }
    }

    private static func serveFile(root: String, base: String, request: HTTPRequest, rest: String) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            var response = HTTPResponse.status(405)
            response.headers.add("Allow", "GET, HEAD")
            return response
        }
        let decoded = percentDecode(Substring(rest), plusIsSpace: false)
        let segments = decoded.split(separator: "/").filter { $0 != "." }
        guard !segments.contains(where: { $0 == ".." || $0.contains("\0") }) else { return .status(404) }
        let filePath = ([root] + segments.map(String.init)).joined(separator: "/")
        var info = stat()
        guard stat(filePath, &info) == 0 else { return .status(404) }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            guard rest.isEmpty || rest.hasSuffix("/") else {
                return .redirect(to: base + rest + "/", status: 301)
            }
            var indexInfo = stat()
            if stat(filePath + "/index.html", &indexInfo) == 0 && indexInfo.st_mode & S_IFMT == S_IFREG {
                return fileResponse(filePath + "/index.html")
            }
            return listing(filePath, title: base + rest)
        case S_IFREG:
            return fileResponse(filePath)
        default:
            return .status(404)
        }
    }

    private static func fileResponse(_ path: String) -> HTTPResponse {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .status(errno == EACCES ? 403 : 404) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            Glibc.close(fd)
            return .status(404)
        }
        let size = Int(info.st_size)
        let body: HTTPResponse.Body
        if size <= 65_536 {
            var bytes = [UInt8](repeating: 0, count: size)
            var total = 0
            while total < size {
                let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, size - total) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                total += count
            }
            Glibc.close(fd)
            bytes.removeSubrange(total...)
            body = .bytes(bytes)
        } else {
            body = .stream(
                BodyStream(length: size, onEnd: { Glibc.close(fd) }) { maxBytes in
                    var piece = [UInt8](repeating: 0, count: max(1, min(maxBytes, 256 * 1024)))
                    while true {
                        let count = piece.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                        if count < 0 && errno == EINTR { continue }
                        guard count > 0 else { return nil }
                        piece.removeSubrange(count...)
                        return piece
                    }
                })
        }
        let type = contentType(for: path)
        var response = HTTPResponse(headers: ["Content-Type": type], body: body)
        response.compressible =
            type.hasPrefix("text/") || type.hasPrefix("application/json")
            || type.hasPrefix("application/javascript") || type.hasPrefix("image/svg")
        return response
    }

    private static func listing(_ directory: String, title: String) -> HTTPResponse {
        var names: [String] = []
        if let handle = opendir(directory) {
            while let entry = readdir(handle) {
                let name = withUnsafePointer(to: &entry.pointee.d_name) {
                    // Up to the NUL only: glibc packs entries, so the 256 bytes d_name declares
                    // can run past the end of the directory buffer.
                    $0.withMemoryRebound(to: CChar.self, capacity: 1) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                let isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
                names.append(isDirectory ? name + "/" : name)
            }
            closedir(handle)
        }
        names.sort()
        let items = names.map { "<li><a href=\"\(escapeHTML($0))\">\(escapeHTML($0))</a></li>" }.joined(separator: "\n")
        return .html(
            "<!DOCTYPE html>\n<html><head><title>\(escapeHTML(title))</title></head>\n"
                + "<body><h1>\(escapeHTML(title))</h1>\n<ul>\n\(items)\n</ul></body></html>\n"
        )
    }

    private static func contentType(for path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let suffix = name.split(separator: ".").count > 1 ? String(name.split(separator: ".").last!).lowercased() : ""
        switch suffix {
        case "html", "htm": return "text/html; charset=utf-8"
        case "txt", "text", "md": return "text/plain; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js": return "application/javascript"
        case "json": return "application/json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "gz": return "application/gzip"
        default: return "application/octet-stream"
        }
    }

    private static func escapeHTML(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
