#include "CAres.h"
#include <ares.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

_Static_assert(CARES_SUCCESS == ARES_SUCCESS && CARES_ENODATA == ARES_ENODATA && CARES_ESERVFAIL == ARES_ESERVFAIL &&
               CARES_ENOTFOUND == ARES_ENOTFOUND && CARES_EREFUSED == ARES_EREFUSED &&
               CARES_ECONNREFUSED == ARES_ECONNREFUSED && CARES_ETIMEOUT == ARES_ETIMEOUT &&
               CARES_EDESTRUCTION == ARES_EDESTRUCTION && CARES_ENONAME == ARES_ENONAME,
               "CAres.h's status values differ from ares.h's");

int cares_open(void **channel, cares_socket_cb socket_cb, void *data, int no_check_response,
               int timeout_ms, int tries, int use_hosts_file, const char *resolvconf_path,
               const char *const *domains, int ndomains, int set_domains) {
    struct ares_options options;
    memset(&options, 0, sizeof options);
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
    options.sock_state_cb = socket_cb;
    options.sock_state_cb_data = data;
    options.lookups = use_hosts_file ? "fb" : "b";  /* copied by ares_init_options */
    if (no_check_response) {
        options.flags = ARES_FLAG_NOCHECKRESP;
        mask |= ARES_OPT_FLAGS;
    }
    if (timeout_ms > 0) {
        options.timeout = timeout_ms;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (tries > 0) {
        options.tries = tries;
        mask |= ARES_OPT_TRIES;
    }
    if (resolvconf_path) {
        options.resolvconf_path = (char *)resolvconf_path;
        mask |= ARES_OPT_RESOLVCONF;
    }
    if (set_domains) {
        options.domains = (char **)domains;
        options.ndomains = ndomains;
        mask |= ARES_OPT_DOMAINS;
    }
    ares_channel made = NULL;
    int status = ares_init_options(&made, &options, mask);
    if (status == ARES_SUCCESS) *channel = made;
    return status;
}

int cares_set_servers(void *channel, const char *csv) {
    return ares_set_servers_ports_csv((ares_channel)channel, csv);
}

int cares_server_count(void *channel) {
    struct ares_addr_port_node *servers = NULL;
    if (ares_get_servers_ports((ares_channel)channel, &servers) != ARES_SUCCESS) return 0;
    int count = 0;
    for (struct ares_addr_port_node *node = servers; node != NULL; node = node->next) count++;
    ares_free_data(servers);
    return count;
}

void cares_destroy(void *channel) { ares_destroy((ares_channel)channel); }

struct lookup {
    cares_lookup_cb cb;
    void *arg;
};

static void lookup_done(void *context, int status, int timeouts, struct ares_addrinfo *info) {
    (void)timeouts;
    struct lookup lookup = *(struct lookup *)context;
    free(context);
    int count = 0;
    cares_address *addresses = NULL;
    if (status == ARES_SUCCESS && info) {
        for (struct ares_addrinfo_node *node = info->nodes; node; node = node->ai_next) count++;
        addresses = calloc(count ? count : 1, sizeof *addresses);
        count = 0;
        for (struct ares_addrinfo_node *node = info->nodes; addresses && node; node = node->ai_next) {
            cares_address *out = &addresses[count];
            if (node->ai_family == AF_INET && node->ai_addr) {
                out->family = 4;
                memcpy(out->bytes, &((struct sockaddr_in *)node->ai_addr)->sin_addr, 4);
            } else if (node->ai_family == AF_INET6 && node->ai_addr) {
                out->family = 6;
                memcpy(out->bytes, &((struct sockaddr_in6 *)node->ai_addr)->sin6_addr, 16);
            } else {
                continue;
            }
            out->ttl = node->ai_ttl;
            count++;
        }
    }
    if (info) ares_freeaddrinfo(info);
    lookup.cb(lookup.arg, status, addresses, count);
    free(addresses);
}

void cares_lookup(void *channel, const char *name, cares_lookup_cb cb, void *arg) {
    struct lookup *context = malloc(sizeof *context);
    if (!context) {
        cb(arg, ARES_ENOMEM, NULL, 0);
        return;
    }
    context->cb = cb;
    context->arg = arg;
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo((ares_channel)channel, name, NULL, &hints, lookup_done, context);
}

void cares_process_fd(void *channel, int read_fd, int write_fd) {
    ares_process_fd((ares_channel)channel, read_fd, write_fd);
}

double cares_next_timeout(void *channel) {
    struct timeval buffer;
    struct timeval *next = ares_timeout((ares_channel)channel, NULL, &buffer);
    if (!next) return -1;
    return (double)next->tv_sec + (double)next->tv_usec / 1e6;
}

const char *cares_strerror(int status) { return ares_strerror(status); }
