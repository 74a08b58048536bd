// c-ares, the asynchronous DNS resolver, for the Reactor's AresResolver.
//
// Linked, not loaded on first use as libcurl is (Sources/CCurl): libcares is one 90 KiB library
// that needs nothing but libc, so linking it costs a process next to nothing at start-up, and
// every plain-http connection to a name goes through it (libcurl is only for https). Its API has
// no variadic functions, so Swift calls it directly.
#ifndef CARES_SHIM_H
#define CARES_SHIM_H

#include <ares.h>

#endif
