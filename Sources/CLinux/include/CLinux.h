// C glue for the Reactor module: the Linux headers Glibc's Swift module leaves out (epoll,
// eventfd, timerfd, signalfd), GNU extensions, and the process-wide signal handling that must be
// written in C (a signal handler may only do async-signal-safe work).
#ifndef CLINUX_H
#define CLINUX_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int clinux_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len);

/// Installs handlers for SIGINT and SIGTERM that record the signal and wake every registered
/// eventfd, and ignores SIGPIPE. Handlers stay installed while at least one wake fd is registered;
/// when the last one is removed, the previous dispositions are restored. Returns 0 or -1 (errno).
int clinux_signal_wake_add(int eventfd);
void clinux_signal_wake_remove(int eventfd);

/// The signals received since the last call by the owner of `eventfd`, as a bit mask
/// (1 << signo), and clears them.
unsigned long clinux_signal_take_pending(int eventfd);

/// Ignores SIGPIPE for the process (writes to a closed socket then fail with EPIPE instead).
void clinux_ignore_sigpipe(void);

#endif
