/* The kernel's floor under blog-example's workload, with no framework at all: the same URL list,
 * at most C requests in flight, each on a new connection as in the tutorial (socket, non-blocking
 * connect, `GET` with `Connection: close`, read to the end of the Content-Length, close), one
 * thread, one epoll set, no allocation per request and nothing printed. `make bench-pages` runs
 * it beside blog-example at C = 2 (Benchmarks/README.md); by hand:
 *
 *   cc -O2 -o /tmp/nonpersistent_floor Benchmarks/peers/nonpersistent_floor.c
 *   /tmp/nonpersistent_floor URL-FILE C
 *
 * URL-FILE holds one `http://127.0.0.1:PORT/path` a line (IPv4 literals only). It prints
 * "N pages" and exits 0 when every response was a complete 200, else 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    char host[64];
    int port;
    char path[512];
} url_t;

typedef struct {
    int fd;
    int connected;
    int got;
    int need; /* header + body bytes, once the header is in; -1 before */
    const url_t *url;
    char buf[65536];
} conn_t;

static int ep, started, finished, failed, count;
static url_t *urls;

static int parse(const char *line, url_t *u) {
    const char *p = strstr(line, "://");
    if (!p) return -1;
    p += 3;
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    if (!colon || !slash || colon > slash || colon - p >= (long)sizeof u->host) return -1;
    memcpy(u->host, p, colon - p);
    u->host[colon - p] = 0;
    u->port = atoi(colon + 1);
    snprintf(u->path, sizeof u->path, "%s", slash);
    u->path[strcspn(u->path, "\r\n")] = 0;
    return 0;
}

static void start(conn_t *c) {
    c->url = &urls[started++];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->url->port)};
    inet_pton(AF_INET, c->url->host, &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(1);
    }
    c->connected = 0;
    c->got = 0;
    c->need = -1;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void finish(conn_t *c, int ok) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    finished++;
    if (!ok) failed++;
    if (started < count) start(c);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s URL-FILE C\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    int capacity = 1024;
    urls = malloc(capacity * sizeof(url_t));
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (count == capacity) urls = realloc(urls, (capacity *= 2) * sizeof(url_t));
        if (parse(line, &urls[count]) == 0) count++;
    }
    fclose(f);
    int concurrency = atoi(argv[2]);
    ep = epoll_create1(EPOLL_CLOEXEC);
    conn_t *conns = calloc(concurrency, sizeof(conn_t));
    for (int i = 0; i < concurrency && started < count; i++) start(&conns[i]);
    struct epoll_event events[64];
    while (finished < count) {
        int n = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (!c->connected) {
                int err = 0;
                socklen_t length = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &length);
                if (err) {
                    finish(c, 0);
                    continue;
                }
                c->connected = 1;
                char request[768];
                int size = snprintf(request, sizeof request,
                                    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                                    c->url->path, c->url->host, c->url->port);
                send(c->fd, request, size, MSG_NOSIGNAL);
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            ssize_t r = read(c->fd, c->buf + c->got, sizeof c->buf - c->got - 1);
            if (r > 0) c->got += r;
            if (c->need < 0) {
                c->buf[c->got] = 0;
                char *end = memmem(c->buf, c->got, "\r\n\r\n", 4);
                if (end) {
                    char *length = strcasestr(c->buf, "\r\nContent-Length:");
                    c->need = (int)(end + 4 - c->buf) + (length ? atoi(length + 17) : 0);
                }
            }
            if (c->need >= 0 && c->got >= c->need) {
                finish(c, strncmp(c->buf, "HTTP/1.1 200", 12) == 0);
            } else if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
                finish(c, 0);
            }
        }
    }
    printf("%d pages\n", finished - failed);
    return failed ? 1 : 0;
}
