// c-ares, the asynchronous DNS resolver, for the Reactor's AresResolver: a narrow C face over it
// (a channel is an opaque pointer; answers come back as plain address records).
//
// Linked (-lcares), not loaded on first use as libcurl is (Sources/CCurl): libcares is one 90 KiB
// library that needs nothing but libc, so linking it costs a process next to nothing at start-up,
// and every plain-http connection to a name goes through it (libcurl is only for https).
//
// Why a face and not <ares.h> itself: imported into Swift, <ares.h> (through the socket headers it
// includes) made SOCK_STREAM, SOCK_NONBLOCK & co. vanish from the Reactor's Swift files in a
// release build with the static Swift runtime (`make getpage`). This header includes nothing but
// <stdint.h>.
#ifndef CARES_H
#define CARES_H

#include <stdint.h>

/// c-ares's status codes that AresResolver tells apart (the values of ARES_* in <ares.h>; shim.c
/// checks them at compile time).
enum {
    CARES_SUCCESS = 0,
    CARES_ENODATA = 1,
    CARES_ESERVFAIL = 3,
    CARES_ENOTFOUND = 4,
    CARES_EREFUSED = 6,
    CARES_ECONNREFUSED = 11,
    CARES_ETIMEOUT = 12,
    CARES_EDESTRUCTION = 16,
    CARES_ENONAME = 19,
};

/// c-ares opened, changed or is closing (both 0) one of its sockets.
typedef void (*cares_socket_cb)(void *data, int fd, int readable, int writable);

/// One address of an answer.
typedef struct {
    int family;  /* 4 or 6 */
    uint8_t bytes[16];  /* the first 4 for IPv4 */
    int ttl;
} cares_address;

/// The end of a lookup: a status and, on success, the addresses (valid during the call only).
typedef void (*cares_lookup_cb)(void *arg, int status, const cares_address *addresses, int count);

/// Opens a channel configured by resolv.conf (or `resolvconf_path`), with what is given
/// overriding it: `timeout_ms` and `tries` when > 0, the search list when `set_domains`,
/// lookups "fb" (hosts file, then DNS) or "b". Socket changes go to `socket_cb` with `data`.
/// Returns a CARES_* status; `*channel` is set on success.
int cares_open(void **channel, cares_socket_cb socket_cb, void *data, int no_check_response,
               int timeout_ms, int tries, int use_hosts_file, const char *resolvconf_path,
               const char *const *domains, int ndomains, int set_domains);
/// Replaces the servers ("host", "host:port", "[v6]:port", comma-separated).
int cares_set_servers(void *channel, const char *csv);
/// The number of servers the channel asks (0 if c-ares cannot say).
int cares_server_count(void *channel);
void cares_destroy(void *channel);

/// Looks up A and AAAA records of `name` (no sorting); `cb` runs once (maybe before this returns,
/// and with CARES_EDESTRUCTION when the channel is destroyed first).
void cares_lookup(void *channel, const char *name, cares_lookup_cb cb, void *arg);
/// Lets c-ares read/write a ready socket (-1 for none), and handle its deadlines.
void cares_process_fd(void *channel, int read_fd, int write_fd);
/// Seconds until c-ares's next deadline, or -1 when no query is pending.
double cares_next_timeout(void *channel);
const char *cares_strerror(int status);

#endif
