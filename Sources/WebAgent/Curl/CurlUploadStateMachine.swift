import Deferreds

/// The request body of a libcurl transfer, as a value type: the bytes its producer wrote, queued
/// until libcurl's read callback copies them, and who of the two waits for the other. It takes
/// events (the producer wrote, finished or failed; libcurl read; the transfer ended) and says what
/// to do (pause or resume libcurl's reading, pause or resume the producer, stop it, abort the
/// transfer). `CurlTransfer` carries the actions out, as part of `CurlTransferStateMachine`.
///
/// - libcurl's reading pauses when it asks for bytes and none are queued (`CURL_READFUNC_PAUSE`);
///   it is resumed once bytes are queued, or the producer finished or failed.
/// - The producer is paused while more than `queueLimit` bytes are queued, and resumed once
///   libcurl has read them all.
/// - After the producer finished, libcurl reads what is queued, then the end of the body; after it
///   failed, libcurl's next read aborts the transfer (which ends with `RequestTransmissionFailed`).
/// - A transfer that ends while the producer writes stops it; what it writes later is dropped.
///
/// libcurl reading a body the request does not have is a bug: `preconditionFailure("Invalid
/// state: …")`.
///
/// Twisted: the request body's side of `twisted.web._newclient.HTTP11ClientProtocol` (TRANSMITTING,
/// GENERATION_FAILED) and `Request._writeToBodyProducerChunked`.
struct CurlUploadStateMachine {
    enum State {
        /// The request has no body.
        case none
        /// The producer is writing. `readPaused`: libcurl asked for bytes when none were queued and
        /// paused its reading; `producerPaused`: more than `queueLimit` bytes were queued and the
        /// producer was paused.
        case producing(readPaused: Bool, producerPaused: Bool)
        /// The producer finished: the queued bytes go, then libcurl reads the end of the body.
        case produced(readPaused: Bool)
        /// The producer failed with `reason`: libcurl's next read aborts the transfer. Twisted:
        /// GENERATION_FAILED.
        case failed(Failure, readPaused: Bool)
        /// The transfer ended while the producer was writing: it was told `stopProducing`, and
        /// what it writes now is dropped.
        case stopped
    }

    /// What libcurl's read callback answers.
    enum ReadAction: Equatable {
        /// `count` bytes were copied; `drained`: nothing is queued any more (note news, to resume
        /// a paused producer).
        case wrote(Int, drained: Bool)
        /// The body is complete (return 0).
        case endOfBody
        /// Nothing queued yet: pause the upload (CURL_READFUNC_PAUSE) until the producer writes.
        case pause
        /// The producer failed: abort the transfer (CURL_READFUNC_ABORT).
        case abort
    }

    private(set) var state: State
    /// The bytes written by the producer and not yet read by libcurl.
    private var chunks: [[UInt8]] = []
    /// How much of `chunks[0]` libcurl has read.
    private var offset = 0
    /// The bytes in `chunks` not yet read.
    private(set) var queued = 0

    /// Bytes queued beyond which the producer is paused.
    static let queueLimit = 256 * 1024

    /// The body of a request that has one (`hasBody`: its producer is started with the transfer),
    /// or none.
    init(hasBody: Bool) {
        state = hasBody ? .producing(readPaused: false, producerPaused: false) : .none
    }

    /// The producer's failure, once it failed.
    var failure: Failure? {
        if case .failed(let reason, _) = state { return reason }
        return nil
    }

    // MARK: - libcurl's read callback

    /// libcurl asks for request body bytes: copies what is queued into `buffer`.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadAction {
        switch state {
        case .none:
            preconditionFailure("Invalid state: libcurl read a body the request does not have")
        case .failed:
            return .abort
        case .producing, .produced, .stopped:
            break
        }
        var written = 0
        while written < buffer.count, !chunks.isEmpty {
            let count = min(buffer.count - written, chunks[0].count - offset)
            chunks[0].withUnsafeBytes { source in
                buffer.baseAddress!.advanced(by: written).copyMemory(
                    from: source.baseAddress!.advanced(by: offset), byteCount: count)
            }
            written += count
            offset += count
            if offset == chunks[0].count {
                chunks.removeFirst()
                offset = 0
            }
        }
        queued -= written
        if written > 0 { return .wrote(written, drained: chunks.isEmpty) }
        switch state {
        case .producing(_, let producerPaused):
            state = .producing(readPaused: true, producerPaused: producerPaused)
            return .pause
        case .produced, .stopped, .none, .failed:
            return .endOfBody
        }
    }

    // MARK: - The producer

    /// The producer wrote `bytes`: they are queued for libcurl (dropped once it finished, failed or
    /// was stopped). Returns true when libcurl's reading is paused: note news, to resume it.
    mutating func written(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, case .producing(let readPaused, _) = state else { return false }
        chunks.append(bytes)
        queued += bytes.count
        return readPaused
    }

    /// After a write: whether to pause the producer now (more than `queueLimit` bytes are queued,
    /// and it is not paused already).
    mutating func producerToPause() -> Bool {
        guard case .producing(let readPaused, producerPaused: false) = state, queued > Self.queueLimit else {
            return false
        }
        state = .producing(readPaused: readPaused, producerPaused: true)
        return true
    }

    /// The producer finished. Returns true when libcurl's reading is paused: note news, to resume
    /// it (it reads what is left, then the end).
    mutating func producerFinished() -> Bool {
        guard case .producing(let readPaused, _) = state else { return false }
        state = .produced(readPaused: readPaused)
        return readPaused
    }

    /// The producer failed with `reason`. Returns true when libcurl's reading is paused: note
    /// news, to resume it (its next read aborts the transfer).
    mutating func producerFailed(_ reason: Failure) -> Bool {
        guard case .producing(let readPaused, _) = state else { return false }
        state = .failed(reason, readPaused: readPaused)
        return readPaused
    }

    // MARK: - The transfer's news

    /// Whether to resume libcurl's reading (`curl_easy_pause(CONT)`): it is paused and bytes are
    /// queued, or the producer finished or failed.
    mutating func readToResume() -> Bool {
        switch state {
        case .producing(readPaused: true, let producerPaused) where queued > 0:
            state = .producing(readPaused: false, producerPaused: producerPaused)
        case .produced(readPaused: true):
            state = .produced(readPaused: false)
        case .failed(let reason, readPaused: true):
            state = .failed(reason, readPaused: false)
        case .none, .producing, .produced, .failed, .stopped:
            return false
        }
        return true
    }

    /// Whether to resume the producer: it was paused and libcurl has read everything queued.
    mutating func producerToResume() -> Bool {
        guard case .producing(let readPaused, producerPaused: true) = state, queued == 0 else { return false }
        state = .producing(readPaused: readPaused, producerPaused: false)
        return true
    }

    /// The transfer ended. Returns true when the producer was still writing: tell it
    /// `stopProducing`.
    mutating func transferEnded() -> Bool {
        guard case .producing = state else { return false }
        state = .stopped
        return true
    }
}
