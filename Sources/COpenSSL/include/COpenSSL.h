// OpenSSL (Debian's libssl-dev, OpenSSL 3) for WebAgent's TLS layer: a narrow C face over it.
//
// Linked (-lssl -lcrypto), as c-ares is (Sources/CAres): libcurl, which is loaded on first use
// (Sources/CCurl), links the same libssl.so.3 itself, so the process holds one copy either way.
//
// Why a face and not <openssl/ssl.h> itself: the TLS layer needs a dozen calls, several of which
// are macros Swift cannot import (SSL_set_tlsext_host_name, BIO_set_mem_eof_return, …), and
// importing OpenSSL's headers into Swift brings thousands of declarations (and the system socket
// headers, which hid SOCK_* from the Reactor with c-ares's header). This header includes nothing
// but <stddef.h> and <stdint.h>; the objects are opaque pointers.
//
// Each SSL object made here is a client or server end with a pair of memory BIOs: the caller
// feeds it the bytes that came from the network (copenssl_feed) and sends what it produced
// (copenssl_take_output). Nothing here touches a socket. Errors are read from OpenSSL's
// thread-local error queue, so every call happens on the thread that reads its error.
#ifndef COPENSSL_H
#define COPENSSL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_ctx_st copenssl_context;
typedef struct ssl_st copenssl_connection;
typedef struct ssl_session_st copenssl_session;

/// What copenssl_handshake, copenssl_read and copenssl_write report besides a byte count.
enum {
    /// More bytes from the peer are needed (SSL_ERROR_WANT_READ / WANT_WRITE on memory BIOs).
    COPENSSL_WANT_MORE = 0,
    /// The peer sent close_notify (SSL_ERROR_ZERO_RETURN).
    COPENSSL_CLOSED = -6,
    /// A protocol failure: the reason is on the error queue and in the verify result (SSL_ERROR_SSL).
    COPENSSL_FAILED = -1,
    /// The input ended (copenssl_feed_eof) in the middle of the exchange (SSL_ERROR_SYSCALL).
    COPENSSL_EOF = -5,
};

/// A client context: peer verification on (SSL_VERIFY_PEER), trusting the certificates of the PEM
/// file `ca_file` only (the system's store is not loaded) or, when it is NULL, the system's
/// default paths; TLS 1.2 at least; ALPN offering "http/1.1"; buffers released while idle; the
/// sessions the server gives kept for copenssl_take_new_session. NULL on failure, with the
/// reason in `error` (NUL-terminated, at most `error_size` bytes).
copenssl_context *copenssl_client_context(const char *ca_file, char *error, size_t error_size);

/// A server context presenting `certificate` with `key` (PEM files), for tests and fuzzing; with
/// `select_http11`, it selects ALPN "http/1.1" when the client offers it.
copenssl_context *copenssl_server_context(const char *certificate, const char *key, int select_http11,
                                          char *error, size_t error_size);

void copenssl_context_free(copenssl_context *context);

/// A client end for `host` over memory BIOs: its certificate must be valid for `host` (checked as
/// an IP address when `host_is_ip`, as a DNS name otherwise), SNI names `host` (names only, as RFC
/// 6066 says), and `session` (may be NULL; not taken) is offered for resumption.
copenssl_connection *copenssl_client_new(copenssl_context *context, const char *host, int host_is_ip,
                                         copenssl_session *session);

/// A server end over memory BIOs.
copenssl_connection *copenssl_server_new(copenssl_context *context);

void copenssl_free(copenssl_connection *connection);

/// Hands `count` bytes that came from the peer to the connection's input BIO.
void copenssl_feed(copenssl_connection *connection, const uint8_t *bytes, size_t count);

/// The input has ended (the peer closed TCP): reads past what was fed now see end of file.
void copenssl_feed_eof(copenssl_connection *connection);

/// Bytes waiting to be sent to the peer.
size_t copenssl_pending_output(copenssl_connection *connection);

/// Moves up to `capacity` bytes waiting to be sent into `buffer`; returns how many.
size_t copenssl_take_output(copenssl_connection *connection, uint8_t *buffer, size_t capacity);

/// Drives the handshake: 1 when it is done, else COPENSSL_WANT_MORE or a failure code.
int copenssl_handshake(copenssl_connection *connection);

/// Decrypts into `buffer`: the number of bytes (> 0), or COPENSSL_WANT_MORE / CLOSED / FAILED / EOF.
int copenssl_read(copenssl_connection *connection, uint8_t *buffer, int capacity);

/// Encrypts all of `count` bytes (> 0) into the output: `count`, or a failure code.
int copenssl_write(copenssl_connection *connection, const uint8_t *bytes, int count);

/// Whether a read may yield more: bytes fed and not yet read into a record, or a record's
/// plaintext not yet handed out (SSL_has_pending). When not, copenssl_read would want more.
int copenssl_has_pending_input(copenssl_connection *connection);

/// Queues close_notify (SSL_shutdown); the output then holds it.
void copenssl_shutdown(copenssl_connection *connection);

/// The certificate verification result (X509_V_OK == 0) and its text.
long copenssl_verify_result(copenssl_connection *connection);
const char *copenssl_verify_error_string(long result);
/// X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
int copenssl_verify_is_name_mismatch(long result);

/// Pops the oldest error of this thread's queue into `buffer` as OpenSSL prints it
/// ("error:0A00010B:SSL routines::wrong version number"); 0 (and an empty text) when the queue is empty.
unsigned long copenssl_next_error(char *buffer, size_t size);

/// The protocol ALPN selected, into `buffer` (NUL-terminated); 0 when none was.
size_t copenssl_alpn_selected(copenssl_connection *connection, char *buffer, size_t size);

/// Whether the handshake resumed a session (no full handshake).
int copenssl_session_reused(copenssl_connection *connection);

/// The latest session the server gave this connection (after its handshake, in a TLS 1.3
/// NewSessionTicket), handed to the caller (who frees it), or NULL when none arrived since the
/// last call.
copenssl_session *copenssl_take_new_session(copenssl_connection *connection);

void copenssl_session_free(copenssl_session *session);

#endif
