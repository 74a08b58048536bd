// libcurl for Swift, loaded on first use: the header, the libcurl functions WebAgent calls (as
// ccurl_*, reaching libcurl through pointers that ccurl_load fills in), typed, non-variadic
// setopt/getinfo wrappers (Swift cannot call C variadic functions such as curl_easy_setopt) and
// flat accessors for CURLMsg's union.
//
// Why not link libcurl: it pulls in some thirty libraries (OpenSSL, GnuTLS, Kerberos, LDAP, SSH…)
// whose loading and relocation cost every process about 6 MiB of memory and 12 M instructions at
// start-up, although only https needs libcurl: plain http is WebAgent's own HTTP/1.1 client.
#ifndef CCURL_H
#define CCURL_H

#include <curl/curl.h>

/// Loads libcurl (libcurl.so.4, or what the SWIFT_DEFERREDS_LIBCURL environment variable names)
/// and runs curl_global_init, once, thread-safely. Returns NULL when libcurl is ready, else why it
/// is not (the same message on every call). Every other ccurl_* function may only be called after
/// it returned NULL.
const char *ccurl_load(void);

CURL *ccurl_easy_init(void);
void ccurl_easy_cleanup(CURL *h);
void ccurl_easy_reset(CURL *h);
CURLcode ccurl_easy_pause(CURL *h, int bitmask);
const char *ccurl_easy_strerror(CURLcode code);
CURLcode ccurl_easy_setopt_long(CURL *h, CURLoption o, long v);
CURLcode ccurl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v);
/* libcurl copies strings passed with setopt (except CURLOPT_POSTFIELDS). */
CURLcode ccurl_easy_setopt_str(CURL *h, CURLoption o, const char *v);
CURLcode ccurl_easy_setopt_ptr(CURL *h, CURLoption o, void *v);
CURLcode ccurl_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v);
CURLcode ccurl_easy_setopt_write_cb(CURL *h, CURLoption o, curl_write_callback cb);
CURLcode ccurl_easy_setopt_read_cb(CURL *h, curl_read_callback cb);
CURLcode ccurl_easy_setopt_sockopt_cb(CURL *h, curl_sockopt_callback cb);
CURLcode ccurl_easy_setopt_opensocket_cb(CURL *h, curl_opensocket_callback cb);
CURLcode ccurl_easy_setopt_closesocket_cb(CURL *h, curl_closesocket_callback cb);
CURLcode ccurl_easy_getinfo_long(CURL *h, CURLINFO i, long *out);
CURLcode ccurl_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *out);
CURLcode ccurl_easy_getinfo_ptr(CURL *h, CURLINFO i, void **out);
CURLcode ccurl_easy_getinfo_str(CURL *h, CURLINFO i, char **out);
CURLcode ccurl_easy_getinfo_socket(CURL *h, CURLINFO i, curl_socket_t *out);

CURLM *ccurl_multi_init(void);
CURLMcode ccurl_multi_cleanup(CURLM *m);
CURLMcode ccurl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode ccurl_multi_remove_handle(CURLM *m, CURL *h);
CURLMcode ccurl_multi_socket_action(CURLM *m, curl_socket_t s, int ev_bitmask, int *running_handles);
CURLMsg *ccurl_multi_info_read(CURLM *m, int *msgs_in_queue);
CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption o, long v);
CURLMcode ccurl_multi_setopt_ptr(CURLM *m, CURLMoption o, void *v);
CURLMcode ccurl_multi_setopt_socket_cb(CURLM *m, curl_socket_callback cb);
CURLMcode ccurl_multi_setopt_timer_cb(CURLM *m, curl_multi_timer_callback cb);

/* A share handle: data (the TLS session cache) shared by the easy handles that set CURLOPT_SHARE
 * to it. No lock functions are set: every handle using it runs on one thread. */
CURLSH *ccurl_share_init(void);
CURLSHcode ccurl_share_setopt_long(CURLSH *s, CURLSHoption o, long v);
CURLSHcode ccurl_share_cleanup(CURLSH *s);

struct curl_slist *ccurl_slist_append(struct curl_slist *list, const char *string);
void ccurl_slist_free_all(struct curl_slist *list);

static inline CURL *ccurl_msg_easy(const CURLMsg *m) { return m->easy_handle; }
static inline CURLMSG ccurl_msg_kind(const CURLMsg *m) { return m->msg; }
static inline CURLcode ccurl_msg_result(const CURLMsg *m) { return m->data.result; }

static inline int ccurl_writefunc_pause(void) { return CURL_WRITEFUNC_PAUSE; }
static inline int ccurl_readfunc_pause(void) { return CURL_READFUNC_PAUSE; }
static inline int ccurl_readfunc_abort(void) { return CURL_READFUNC_ABORT; }

#endif
