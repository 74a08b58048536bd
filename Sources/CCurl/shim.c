// libcurl reached through dlopen: see CCurl.h for why.
#include "CCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_pause)(CURL *, int);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLSH *(*share_init)(void);
    CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
    CURLSHcode (*share_cleanup)(CURLSH *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *load_error = "libcurl was not loaded";
static char load_message[512];

static void load(void) {
    // SWIFT_DEFERREDS_LIBCURL names another build (a path, or a soname such as libcurl-gnutls.so.4);
    // else the runtime package's soname, then the -dev package's unversioned link.
    const char *chosen = getenv("SWIFT_DEFERREDS_LIBCURL");
    void *library = NULL;
    if (chosen && *chosen) {
        library = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
    } else {
        library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (!library) library = dlopen("libcurl.so", RTLD_NOW | RTLD_LOCAL);
    }
    if (!library) {
        const char *reason = dlerror();
        snprintf(load_message, sizeof load_message, "libcurl could not be loaded: %s", reason ? reason : "unknown");
        load_error = load_message;
        return;
    }
#define CCURL_BIND(field, symbol)                                                                       \
    do {                                                                                                \
        *(void **)&api.field = dlsym(library, symbol);                                                  \
        if (!api.field) {                                                                               \
            snprintf(load_message, sizeof load_message, "libcurl has no %s", symbol);                   \
            load_error = load_message;                                                                  \
            return;                                                                                     \
        }                                                                                               \
    } while (0)
    CCURL_BIND(global_init, "curl_global_init");
    CCURL_BIND(easy_init, "curl_easy_init");
    CCURL_BIND(easy_cleanup, "curl_easy_cleanup");
    CCURL_BIND(easy_reset, "curl_easy_reset");
    CCURL_BIND(easy_pause, "curl_easy_pause");
    CCURL_BIND(easy_strerror, "curl_easy_strerror");
    CCURL_BIND(easy_setopt, "curl_easy_setopt");
    CCURL_BIND(easy_getinfo, "curl_easy_getinfo");
    CCURL_BIND(multi_init, "curl_multi_init");
    CCURL_BIND(multi_cleanup, "curl_multi_cleanup");
    CCURL_BIND(multi_add_handle, "curl_multi_add_handle");
    CCURL_BIND(multi_remove_handle, "curl_multi_remove_handle");
    CCURL_BIND(multi_socket_action, "curl_multi_socket_action");
    CCURL_BIND(multi_info_read, "curl_multi_info_read");
    CCURL_BIND(multi_setopt, "curl_multi_setopt");
    CCURL_BIND(share_init, "curl_share_init");
    CCURL_BIND(share_setopt, "curl_share_setopt");
    CCURL_BIND(share_cleanup, "curl_share_cleanup");
    CCURL_BIND(slist_append, "curl_slist_append");
    CCURL_BIND(slist_free_all, "curl_slist_free_all");
#undef CCURL_BIND
    CURLcode code = api.global_init(CURL_GLOBAL_ALL);
    if (code != CURLE_OK) {
        snprintf(load_message, sizeof load_message, "curl_global_init failed: %s", api.easy_strerror(code));
        load_error = load_message;
        return;
    }
    load_error = NULL;
}

const char *ccurl_load(void) {
    pthread_once(&load_once, load);
    return load_error;
}

CURL *ccurl_easy_init(void) { return api.easy_init(); }
void ccurl_easy_cleanup(CURL *h) { api.easy_cleanup(h); }
void ccurl_easy_reset(CURL *h) { api.easy_reset(h); }
CURLcode ccurl_easy_pause(CURL *h, int bitmask) { return api.easy_pause(h, bitmask); }
const char *ccurl_easy_strerror(CURLcode code) { return api.easy_strerror(code); }

CURLcode ccurl_easy_setopt_long(CURL *h, CURLoption o, long v) { return api.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return api.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_str(CURL *h, CURLoption o, const char *v) { return api.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_ptr(CURL *h, CURLoption o, void *v) { return api.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return api.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_write_cb(CURL *h, CURLoption o, curl_write_callback cb) { return api.easy_setopt(h, o, cb); }
CURLcode ccurl_easy_setopt_read_cb(CURL *h, curl_read_callback cb) { return api.easy_setopt(h, CURLOPT_READFUNCTION, cb); }
CURLcode ccurl_easy_setopt_sockopt_cb(CURL *h, curl_sockopt_callback cb) { return api.easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, cb); }
CURLcode ccurl_easy_setopt_opensocket_cb(CURL *h, curl_opensocket_callback cb) { return api.easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, cb); }
CURLcode ccurl_easy_setopt_closesocket_cb(CURL *h, curl_closesocket_callback cb) { return api.easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, cb); }

CURLcode ccurl_easy_getinfo_long(CURL *h, CURLINFO i, long *out) { return api.easy_getinfo(h, i, out); }
CURLcode ccurl_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *out) { return api.easy_getinfo(h, i, out); }
CURLcode ccurl_easy_getinfo_ptr(CURL *h, CURLINFO i, void **out) { return api.easy_getinfo(h, i, out); }
CURLcode ccurl_easy_getinfo_str(CURL *h, CURLINFO i, char **out) { return api.easy_getinfo(h, i, out); }
CURLcode ccurl_easy_getinfo_socket(CURL *h, CURLINFO i, curl_socket_t *out) { return api.easy_getinfo(h, i, out); }

CURLM *ccurl_multi_init(void) { return api.multi_init(); }
CURLMcode ccurl_multi_cleanup(CURLM *m) { return api.multi_cleanup(m); }
CURLMcode ccurl_multi_add_handle(CURLM *m, CURL *h) { return api.multi_add_handle(m, h); }
CURLMcode ccurl_multi_remove_handle(CURLM *m, CURL *h) { return api.multi_remove_handle(m, h); }
CURLMcode ccurl_multi_socket_action(CURLM *m, curl_socket_t s, int ev_bitmask, int *running_handles) {
    return api.multi_socket_action(m, s, ev_bitmask, running_handles);
}
CURLMsg *ccurl_multi_info_read(CURLM *m, int *msgs_in_queue) { return api.multi_info_read(m, msgs_in_queue); }
CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return api.multi_setopt(m, o, v); }
CURLMcode ccurl_multi_setopt_ptr(CURLM *m, CURLMoption o, void *v) { return api.multi_setopt(m, o, v); }
CURLMcode ccurl_multi_setopt_socket_cb(CURLM *m, curl_socket_callback cb) { return api.multi_setopt(m, CURLMOPT_SOCKETFUNCTION, cb); }
CURLMcode ccurl_multi_setopt_timer_cb(CURLM *m, curl_multi_timer_callback cb) { return api.multi_setopt(m, CURLMOPT_TIMERFUNCTION, cb); }

CURLSH *ccurl_share_init(void) { return api.share_init(); }
CURLSHcode ccurl_share_setopt_long(CURLSH *s, CURLSHoption o, long v) { return api.share_setopt(s, o, v); }
CURLSHcode ccurl_share_cleanup(CURLSH *s) { return api.share_cleanup(s); }

struct curl_slist *ccurl_slist_append(struct curl_slist *list, const char *string) { return api.slist_append(list, string); }
void ccurl_slist_free_all(struct curl_slist *list) { api.slist_free_all(list); }
