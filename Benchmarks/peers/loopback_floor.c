/* The kernel's floor under two reactor workloads, with no framework at all: what `make
 * bench-reactor`'s targets can be checked against. Not part of `make`; build and run by hand:
 *
 *   cc -O2 -o /tmp/loopback_floor Benchmarks/peers/loopback_floor.c && /tmp/loopback_floor
 *
 * 1. epoll_wait(timeout 0) on a set holding one eventfd, 1,000,000 times: the least a reactor pass
 *    costs when it polls once per pass (call_later_chain does one pass per call, as Twisted does).
 * 2. tcp_rtt: one thread, one epoll set, N loopback connection pairs (client and echo server in
 *    the same loop, TCP_NODELAY), 32-byte ping-pong for 2 s; round trips per second.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void epoll_floor(void) {
    int ep = epoll_create1(0), fd = eventfd(0, EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}, out[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    int n = 1000000;
    double t0 = now();
    for (int i = 0; i < n; i++) epoll_wait(ep, out, 256, 0);
    double t1 = now();
    printf("epoll_wait(0): %.0f ns per call (%.3f s for 1,000,000 passes)\n", (t1 - t0) / n * 1e9, t1 - t0);
    close(fd);
    close(ep);
}

static void rtt_floor(int n, double duration) {
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(ls, (struct sockaddr *)&a, sizeof a);
    listen(ls, 1024);
    getsockname(ls, (struct sockaddr *)&a, &len);
    int ep = epoll_create1(0);
    static int is_client[65536], pending[65536], clients[1024];
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&a, sizeof a);
        int s = accept(ls, 0, 0);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c, F_SETFL, O_NONBLOCK);
        fcntl(s, F_SETFL, O_NONBLOCK);
        clients[i] = c;
        is_client[c] = 1;
        struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
        e.data.fd = s;
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
    }
    char msg[32] = {0}, buf[65536];
    long round_trips = 0;
    double t0 = now(), t1 = 0;
    for (int i = 0; i < n; i++) {
        pending[clients[i]] = 32;
        send(clients[i], msg, 32, MSG_NOSIGNAL);
    }
    struct epoll_event ev[256];
    while (!t1) {
        int k = epoll_wait(ep, ev, 256, -1);
        for (int j = 0; j < k; j++) {
            int fd = ev[j].data.fd;
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) continue;
            if (!is_client[fd]) {
                send(fd, buf, r, MSG_NOSIGNAL);
            } else if ((pending[fd] -= r) == 0) {
                round_trips++;
                pending[fd] = 32;
                send(fd, msg, 32, MSG_NOSIGNAL);
            }
        }
        if (now() >= t0 + duration) t1 = now();
    }
    printf("tcp ping-pong, %d connection(s): %.0f round trips/s\n", n, round_trips / (t1 - t0));
}

int main(void) {
    epoll_floor();
    rtt_floor(1, 2.0);
    rtt_floor(100, 2.0);
    return 0;
}
