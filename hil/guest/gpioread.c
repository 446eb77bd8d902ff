/* gpioread: gpiomon's read path (libgpiod 1.6), instrumented. The reference reader
 * of the gateway-vs-gpiomon-latency scenario.
 *
 *   gpioread CHIP OFFSET N TIMEOUT_MS [pull-down|pull-up|as-is]
 *
 * Requests line OFFSET of CHIP for both edges (consumer "gpioread"), then does what
 * Debian's gpiomon 1.6.3 does in gpiod_ctxless_event_monitor_multiple_ext(): ppoll()
 * on the line's event fd, gpiod_line_event_read_fd_multiple() up to 16 events. Right
 * after each read returns it takes CLOCK_MONOTONIC: the moment the events are in user
 * space. Stops after N events or TIMEOUT_MS, then prints one line per event
 *   gpioread i=K type=1|0 ts_ns=<kernel edge stamp> read_ns=<CLOCK_MONOTONIC after read> lat_us=<read-ts>
 * (events of one read share read_ns, as a batch reaches user space together) and
 *   gpioread-done events=K reads=R
 * Built with gcc -static against libgpiod (libgpiod-dev) by hil/prepare.sh. */
#define _GNU_SOURCE
#include <errno.h>
#include <gpiod.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXE 4096

static long long mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    static long long ts[MAXE], rd[MAXE];
    static int type[MAXE];
    struct gpiod_line_event evs[16];
    struct gpiod_chip *chip;
    struct gpiod_line *line;
    int n, want, flags = 0, fd, i, reads = 0;
    long long deadline;

    if (argc < 5) {
        fprintf(stderr, "usage: gpioread CHIP OFFSET N TIMEOUT_MS [pull-down|pull-up|as-is]\n");
        return 2;
    }
    want = atoi(argv[3]);
    if (want < 1 || want > MAXE) { fprintf(stderr, "gpioread: N must be 1..%d\n", MAXE); return 2; }
    if (argc > 5 && !strcmp(argv[5], "pull-down")) flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    if (argc > 5 && !strcmp(argv[5], "pull-up")) flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    chip = gpiod_chip_open_lookup(argv[1]);
    if (!chip) { fprintf(stderr, "gpioread: open %s: %s\n", argv[1], strerror(errno)); return 1; }
    line = gpiod_chip_get_line(chip, (unsigned)atoi(argv[2]));
    if (!line) { fprintf(stderr, "gpioread: line %s: %s\n", argv[2], strerror(errno)); return 1; }
    if (gpiod_line_request_both_edges_events_flags(line, "gpioread", flags) < 0) {
        fprintf(stderr, "gpioread: request: %s\n", strerror(errno));
        return 1;
    }
    fd = gpiod_line_event_get_fd(line);
    deadline = mono() + atoll(argv[4]) * 1000000LL;
    n = 0;
    while (n < want) {
        struct pollfd p = { .fd = fd, .events = POLLIN | POLLPRI };
        long long left = deadline - mono();
        struct timespec to;
        int r, k;
        if (left <= 0) break;
        to.tv_sec = left / 1000000000LL;
        to.tv_nsec = left % 1000000000LL;
        r = ppoll(&p, 1, &to, NULL);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { fprintf(stderr, "gpioread: ppoll: %s\n", strerror(errno)); break; }
        if (r == 0) continue;
        k = gpiod_line_event_read_fd_multiple(fd, evs, 16);
        long long now = mono();
        if (k < 0) { fprintf(stderr, "gpioread: read: %s\n", strerror(errno)); break; }
        reads++;
        for (i = 0; i < k && n < want; i++, n++) {
            ts[n] = (long long)evs[i].ts.tv_sec * 1000000000LL + evs[i].ts.tv_nsec;
            rd[n] = now;
            type[n] = evs[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
        }
    }
    gpiod_chip_close(chip);
    for (i = 0; i < n; i++)
        printf("gpioread i=%d type=%d ts_ns=%lld read_ns=%lld lat_us=%.1f\n", i, type[i], ts[i], rd[i], (rd[i] - ts[i]) / 1000.0);
    printf("gpioread-done events=%d reads=%d\n", n, reads);
    return n == want ? 0 : 1;
}
