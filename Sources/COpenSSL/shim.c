#include "COpenSSL.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

_Static_assert(COPENSSL_CLOSED == -SSL_ERROR_ZERO_RETURN, "COPENSSL_CLOSED");
_Static_assert(COPENSSL_FAILED == -SSL_ERROR_SSL, "COPENSSL_FAILED");
_Static_assert(COPENSSL_EOF == -SSL_ERROR_SYSCALL, "COPENSSL_EOF");

// The ex_data slot where the new-session callback leaves the latest session of a connection.
static int session_slot = -1;
static pthread_once_t session_slot_once = PTHREAD_ONCE_INIT;

static void make_session_slot(void) {
    session_slot = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

// OpenSSL calls this with each session the server gives (TLS 1.3 tickets come after the
// handshake, during reads): keep the latest, replacing (and freeing) one not yet taken.
static int new_session(SSL *ssl, SSL_SESSION *session) {
    SSL_SESSION *old = SSL_get_ex_data(ssl, session_slot);
    if (old != NULL) SSL_SESSION_free(old);
    SSL_set_ex_data(ssl, session_slot, session);
    return 1;  // we hold the reference now
}

static void copy_error(char *error, size_t error_size, const char *what) {
    if (error == NULL || error_size == 0) return;
    unsigned long code = ERR_get_error();
    if (code != 0) {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof reason);
        snprintf(error, error_size, "%s: %s", what, reason);
    } else {
        snprintf(error, error_size, "%s", what);
    }
    ERR_clear_error();
}

copenssl_context *copenssl_client_context(const char *ca_file, char *error, size_t error_size) {
    pthread_once(&session_slot_once, make_session_slot);
    ERR_clear_error();
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (context == NULL) {
        copy_error(error, error_size, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(context, SSL_MODE_RELEASE_BUFFERS);
    int loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(context, ca_file, NULL)
                                 : SSL_CTX_set_default_verify_paths(context);
    if (loaded != 1) {
        char what[512];
        // curl's wording for the same failure.
        snprintf(what, sizeof what, "error setting certificate verify locations: CAfile: %s",
                 ca_file != NULL ? ca_file : "(system default)");
        copy_error(error, error_size, what);
        SSL_CTX_free(context);
        return NULL;
    }
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(context, alpn, sizeof alpn);
    // Sessions are kept by the caller, per server (copenssl_take_new_session), not in the context.
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(context, new_session);
    return context;
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const char wanted[] = "http/1.1";
    size_t length = strlen(wanted);
    for (unsigned int i = 0; i < inlen;) {
        unsigned int n = in[i];
        if (i + 1 + n > inlen) break;
        if (n == length && memcmp(in + i + 1, wanted, n) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

copenssl_context *copenssl_server_context(const char *certificate, const char *key, int select_http11,
                                          char *error, size_t error_size) {
    ERR_clear_error();
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (context == NULL) {
        copy_error(error, error_size, "SSL_CTX_new failed");
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(context, certificate) != 1
        || SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) != 1) {
        copy_error(error, error_size, "cannot load the certificate or key");
        SSL_CTX_free(context);
        return NULL;
    }
    if (select_http11) SSL_CTX_set_alpn_select_cb(context, select_alpn, NULL);
    return context;
}

void copenssl_context_free(copenssl_context *context) {
    SSL_CTX_free(context);
}

static SSL *new_over_memory(SSL_CTX *context) {
    SSL *ssl = SSL_new(context);
    if (ssl == NULL) return NULL;
    BIO *input = BIO_new(BIO_s_mem());
    BIO *output = BIO_new(BIO_s_mem());
    if (input == NULL || output == NULL) {
        BIO_free(input);
        BIO_free(output);
        SSL_free(ssl);
        return NULL;
    }
    // An empty input means "more to come" until copenssl_feed_eof.
    BIO_set_mem_eof_return(input, -1);
    BIO_set_mem_eof_return(output, -1);
    SSL_set_bio(ssl, input, output);
    return ssl;
}

copenssl_connection *copenssl_client_new(copenssl_context *context, const char *host, int host_is_ip,
                                         copenssl_session *session) {
    ERR_clear_error();
    SSL *ssl = new_over_memory(context);
    if (ssl == NULL) return NULL;
    SSL_set_connect_state(ssl);
    int ok;
    if (host_is_ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    }
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    if (session != NULL) SSL_set_session(ssl, session);
    return ssl;
}

copenssl_connection *copenssl_server_new(copenssl_context *context) {
    ERR_clear_error();
    SSL *ssl = new_over_memory(context);
    if (ssl != NULL) SSL_set_accept_state(ssl);
    return ssl;
}

void copenssl_free(copenssl_connection *connection) {
    if (connection == NULL) return;
    if (session_slot >= 0) {
        SSL_SESSION *left = SSL_get_ex_data(connection, session_slot);
        if (left != NULL) SSL_SESSION_free(left);
    }
    SSL_free(connection);
}

void copenssl_feed(copenssl_connection *connection, const uint8_t *bytes, size_t count) {
    BIO *input = SSL_get_rbio(connection);
    while (count > 0) {
        int chunk = count > 0x40000000 ? 0x40000000 : (int)count;
        int written = BIO_write(input, bytes, chunk);
        if (written <= 0) return;  // out of memory: the next read fails for want of the bytes
        bytes += written;
        count -= (size_t)written;
    }
}

void copenssl_feed_eof(copenssl_connection *connection) {
    BIO_set_mem_eof_return(SSL_get_rbio(connection), 0);
}

size_t copenssl_pending_output(copenssl_connection *connection) {
    return BIO_ctrl_pending(SSL_get_wbio(connection));
}

size_t copenssl_take_output(copenssl_connection *connection, uint8_t *buffer, size_t capacity) {
    int chunk = capacity > 0x40000000 ? 0x40000000 : (int)capacity;
    int taken = BIO_read(SSL_get_wbio(connection), buffer, chunk);
    return taken > 0 ? (size_t)taken : 0;
}

// SSL_get_error needs an empty error queue before the call it judges. Clearing an empty queue
// costs ~800 instructions (OpenSSL 3 walks all its slots), twice a page; peeking costs a tenth of
// that, and every failure here drains the queue (copenssl_next_error), so it is almost always empty.
static void clear_errors(void) {
    if (ERR_peek_error() != 0) ERR_clear_error();
}

static int outcome(SSL *ssl, int result) {
    switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return COPENSSL_WANT_MORE;
    case SSL_ERROR_ZERO_RETURN:
        return COPENSSL_CLOSED;
    case SSL_ERROR_SYSCALL:
        return COPENSSL_EOF;
    default:
        return COPENSSL_FAILED;
    }
}

int copenssl_handshake(copenssl_connection *connection) {
    clear_errors();
    int result = SSL_do_handshake(connection);
    return result == 1 ? 1 : outcome(connection, result);
}

int copenssl_read(copenssl_connection *connection, uint8_t *buffer, int capacity) {
    clear_errors();
    int result = SSL_read(connection, buffer, capacity);
    return result > 0 ? result : outcome(connection, result);
}

int copenssl_write(copenssl_connection *connection, const uint8_t *bytes, int count) {
    clear_errors();
    int result = SSL_write(connection, bytes, count);
    return result > 0 ? result : outcome(connection, result);
}

int copenssl_has_pending_input(copenssl_connection *connection) {
    return SSL_has_pending(connection) || BIO_ctrl_pending(SSL_get_rbio(connection)) > 0;
}

void copenssl_shutdown(copenssl_connection *connection) {
    ERR_clear_error();
    SSL_shutdown(connection);
    ERR_clear_error();
}

long copenssl_verify_result(copenssl_connection *connection) {
    return SSL_get_verify_result(connection);
}

const char *copenssl_verify_error_string(long result) {
    return X509_verify_cert_error_string(result);
}

int copenssl_verify_is_name_mismatch(long result) {
    return result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH;
}

unsigned long copenssl_next_error(char *buffer, size_t size) {
    unsigned long code = ERR_get_error();
    if (size > 0) buffer[0] = 0;
    if (code != 0 && size > 0) ERR_error_string_n(code, buffer, size);
    return code;
}

size_t copenssl_alpn_selected(copenssl_connection *connection, char *buffer, size_t size) {
    const unsigned char *name = NULL;
    unsigned int length = 0;
    SSL_get0_alpn_selected(connection, &name, &length);
    if (size == 0) return 0;
    size_t n = length < size - 1 ? length : size - 1;
    if (n > 0) memcpy(buffer, name, n);
    buffer[n] = 0;
    return n;
}

int copenssl_session_reused(copenssl_connection *connection) {
    return SSL_session_reused(connection);
}

copenssl_session *copenssl_take_new_session(copenssl_connection *connection) {
    if (session_slot < 0) return NULL;
    SSL_SESSION *session = SSL_get_ex_data(connection, session_slot);
    if (session != NULL) SSL_set_ex_data(connection, session_slot, NULL);
    return session;
}

void copenssl_session_free(copenssl_session *session) {
    SSL_SESSION_free(session);
}
