#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

int clinux_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void clinux_ignore_sigpipe(void) {
    signal(SIGPIPE, SIG_IGN);
}

// The wake fds, read by the handler without locks (stored as fd + 1; 0 is an empty slot), each
// with the signals its owner has not taken yet.
#define MAX_WAKE_FDS 64
static _Atomic int wake_fds[MAX_WAKE_FDS];
static _Atomic unsigned long pending_signals[MAX_WAKE_FDS];
// Registration itself is serialised by a mutex (never taken in the handler).
static pthread_mutex_t registration_lock = PTHREAD_MUTEX_INITIALIZER;
static int registered_count;
static struct sigaction previous_int, previous_term;

// Handlers running now: a wake fd leaves only once none is, so no handler that read its slot
// writes to the descriptor after its owner closed it (and the number went to another file).
static _Atomic int handlers_running;

static void on_signal(int signo) {
    int saved_errno = errno;
    atomic_fetch_add(&handlers_running, 1);
    uint64_t one = 1;
    for (int i = 0; i < MAX_WAKE_FDS; i++) {
        int slot = atomic_load(&wake_fds[i]);
        if (slot > 0) {
            atomic_fetch_or(&pending_signals[i], 1UL << signo);
            ssize_t ignored = write(slot - 1, &one, sizeof one);
            (void)ignored;
        }
    }
    atomic_fetch_sub(&handlers_running, 1);
    errno = saved_errno;
}

int clinux_signal_wake_add(int eventfd) {
    pthread_mutex_lock(&registration_lock);
    int slot = -1;
    for (int i = 0; i < MAX_WAKE_FDS; i++) {
        if (atomic_load(&wake_fds[i]) == 0) { slot = i; break; }
    }
    if (slot < 0) {
        pthread_mutex_unlock(&registration_lock);
        errno = EMFILE;
        return -1;
    }
    atomic_store(&pending_signals[slot], 0);
    atomic_store(&wake_fds[slot], eventfd + 1);
    // A process may start with these blocked (inherited from its parent); the reactor's thread
    // must be able to receive them.
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGINT);
    sigaddset(&unblock, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    if (registered_count++ == 0) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        sigaction(SIGINT, &action, &previous_int);
        sigaction(SIGTERM, &action, &previous_term);
        signal(SIGPIPE, SIG_IGN);
    }
    pthread_mutex_unlock(&registration_lock);
    return 0;
}

void clinux_signal_wake_remove(int eventfd) {
    pthread_mutex_lock(&registration_lock);
    for (int i = 0; i < MAX_WAKE_FDS; i++) {
        if (atomic_load(&wake_fds[i]) == eventfd + 1) {
            atomic_store(&wake_fds[i], 0);
            if (--registered_count == 0) {
                sigaction(SIGINT, &previous_int, NULL);
                sigaction(SIGTERM, &previous_term, NULL);
            }
            break;
        }
    }
    pthread_mutex_unlock(&registration_lock);
    // A handler on another thread may still hold the old slot value (it runs in microseconds).
    while (atomic_load(&handlers_running) > 0) sched_yield();
}

unsigned long clinux_signal_take_pending(int eventfd) {
    for (int i = 0; i < MAX_WAKE_FDS; i++) {
        if (atomic_load(&wake_fds[i]) == eventfd + 1) return atomic_exchange(&pending_signals[i], 0);
    }
    return 0;
}
