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
#include <string.h>
#include <termios.h>
#include <fcntl.h>
#include <unistd.h>
#include <pty.h>
#include <linux/serial.h>
#include <sys/prctl.h>

static inline int cpanic_errno(void) { return errno; }

// The calling thread's name for the kernel (comm, 15 bytes and a NUL).
static inline int cpanic_set_thread_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

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

/* ---- Serial ports ---- */

static inline speed_t cpanic_speed(int baud) {
    switch (baud) {
    case 1200: return B1200; case 2400: return B2400; case 4800: return B4800;
    case 9600: return B9600; case 19200: return B19200; case 38400: return B38400;
    case 57600: return B57600; case 115200: return B115200; case 230400: return B230400;
    case 460800: return B460800; case 921600: return B921600;
    default: return 0;
    }
}

/// Raw mode, CLOCAL|CREAD, no flow control, VMIN=1 VTIME=0. parity: 'N','E','O'.
static inline int cpanic_serial_configure(int fd, int baud, int data_bits, char parity, int stop_bits) {
    struct termios t;
    if (tcgetattr(fd, &t) < 0) return -1;
    cfmakeraw(&t);
    speed_t sp = cpanic_speed(baud);
    if (sp == 0) { errno = EINVAL; return -1; }
    cfsetispeed(&t, sp); cfsetospeed(&t, sp);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~(CRTSCTS | CSIZE | PARENB | PARODD | CSTOPB);
    t.c_cflag |= data_bits == 7 ? CS7 : CS8;
    if (parity == 'E') t.c_cflag |= PARENB;
    if (parity == 'O') t.c_cflag |= PARENB | PARODD;
    if (stop_bits == 2) t.c_cflag |= CSTOPB;
    t.c_cc[VMIN] = 1; t.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &t);
}

static inline int cpanic_serial_exclusive(int fd) { return ioctl(fd, TIOCEXCL); }

/// Asks the driver to deliver bytes at once (ftdi_sio: 1 ms latency timer).
/// Returns -1 where the device has no serial_struct (a pty); harmless.
static inline int cpanic_serial_low_latency(int fd) {
    struct serial_struct ss;
    if (ioctl(fd, TIOCGSERIAL, &ss) < 0) return -1;
    ss.flags |= ASYNC_LOW_LATENCY;
    return ioctl(fd, TIOCSSERIAL, &ss);
}

static const int CPANIC_TIOCM_CTS = TIOCM_CTS;
static const int CPANIC_TIOCM_DSR = TIOCM_DSR;
static const int CPANIC_TIOCM_CD = TIOCM_CD;
static const int CPANIC_TIOCM_RI = TIOCM_RI;
static const int CPANIC_TIOCM_DTR = TIOCM_DTR;
static const int CPANIC_TIOCM_RTS = TIOCM_RTS;

static inline int cpanic_tiocmget(int fd) { int bits = 0; return ioctl(fd, TIOCMGET, &bits) < 0 ? -1 : bits; }
static inline int cpanic_tiocmbis(int fd, int bits) { return ioctl(fd, TIOCMBIS, &bits); }
/// Blocks until one of the modem lines in `mask` changes (call off the loop).
static inline int cpanic_tiocmiwait(int fd, int mask) { return ioctl(fd, TIOCMIWAIT, mask); }

/// A pseudo-terminal pair for tests: *master, *slave, and the slave's path.
static inline int cpanic_openpty(int *master, int *slave, char *name, size_t len) {
    char buf[128];
    if (openpty(master, slave, buf, NULL, NULL) < 0) return -1;
    if (name && len) { strncpy(name, buf, len - 1); name[len - 1] = 0; }
    return 0;
}
#endif
