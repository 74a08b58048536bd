import Deferreds
import Reactor

/// The body of a decoded response: the original response's body, decoded on its way to the
/// protocol. Until `deliverBody`, it holds the original response; dropping the decoded response
/// unread drops that too (which aborts its transfer).
final class DecodingBody: ResponseBody {
    private var original: Response?
    /// The codings to undo, in the order they are undone (the last applied first).
    private let codings: [ContentDecoderAgent.Coding]
    private let maxBodyBytes: Int?
    weak var decoded: Response?

    init(original: Response, codings: [ContentDecoderAgent.Coding], maxBodyBytes: Int?) {
        self.original = original
        self.codings = codings
        self.maxBodyBytes = maxBodyBytes
    }

    override func start(_ protocolHandler: Protocol) {
        guard let original else { return }
        self.original = nil
        original.deliverBody(DecodingProtocol(user: protocolHandler, codings: codings, original: original,
                                              response: decoded, maxBodyBytes: maxBodyBytes))
    }

    override func responseReleased() {
        original = nil
    }
}
