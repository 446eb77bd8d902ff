// The project's only C: Linux interfaces that Swift's Glibc module does not
// show (epoll, timerfd, eventfd, adjtimex) and macros wrapped as functions.
// Imported by PanicPlatform alone.
#ifndef CPANICSYS_H
#define CPANICSYS_H

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/eventfd.h>
#include <sys/timex.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <errno.h>
#include <stdint.h>

static inline int cpanic_errno(void) { return errno; }

static inline int cpanic_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int cpanic_epoll_add(int ep, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev = { .events = events, .data = { .u64 = token } };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}
static inline int cpanic_epoll_del(int ep, int fd) { return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); }
/// Waits for up to `max` events; fills parallel arrays of tokens and event masks.
static inline int cpanic_epoll_wait(int ep, uint64_t *tokens, uint32_t *masks, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(ep, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) { tokens[i] = evs[i].data.u64; masks[i] = evs[i].events; }
    return n;
}
static const uint32_t CPANIC_EPOLLIN = EPOLLIN;
static const uint32_t CPANIC_EPOLLHUP = EPOLLHUP;
static const uint32_t CPANIC_EPOLLERR = EPOLLERR;
static const uint32_t CPANIC_EPOLLRDHUP = EPOLLRDHUP;

static inline int cpanic_timerfd_create(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
}
/// Arms `fd` to fire once at absolute CLOCK_MONOTONIC time `ns`; 0 disarms.
static inline int cpanic_timerfd_arm_abs(int fd, int64_t ns) {
    struct itimerspec its = {0};
    if (ns > 0) {
        its.it_value.tv_sec = ns / 1000000000;
        its.it_value.tv_nsec = ns % 1000000000;
    }
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}
static inline int cpanic_eventfd_create(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

static inline int64_t cpanic_clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static inline int64_t cpanic_monotonic_ns(void) { return cpanic_clock_ns(CLOCK_MONOTONIC); }
static inline int64_t cpanic_realtime_ns(void) { return cpanic_clock_ns(CLOCK_REALTIME); }

/// Clock discipline as the kernel reports it (read-only adjtimex).
typedef struct {
    int state;          // TIME_OK, TIME_ERROR, ...
    int unsynchronised; // STA_UNSYNC set
    long esterror_us;   // estimated error
    long maxerror_us;   // maximum error
} cpanic_clock_status;
static inline int cpanic_clock_status_read(cpanic_clock_status *out) {
    struct timex tx = {0};
    int state = adjtimex(&tx);
    if (state < 0) return -1;
    out->state = state;
    out->unsynchronised = (tx.status & STA_UNSYNC) ? 1 : 0;
    out->esterror_us = tx.esterror;
    out->maxerror_us = tx.maxerror;
    return 0;
}
static const int CPANIC_TIME_ERROR = TIME_ERROR;

/// Credentials of the peer of a connected Unix socket.
static inline int cpanic_peer_credentials(int fd, int *pid, unsigned *uid, unsigned *gid) {
    struct { int pid; unsigned uid; unsigned gid; } cred; socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    *pid = cred.pid; *uid = cred.uid; *gid = cred.gid; return 0;
}
#endif
