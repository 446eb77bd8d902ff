/* flip: write a timed sequence of values to one (sysfs) file, e.g. a gpio-sim pull file.
 *
 *   flip FILE [GAP_US:]VALUE ...
 *
 * VALUE "up"/"down" stand for "pull-up"/"pull-down"; anything else is written as is.
 * GAP_US is the time from the start of the previous write to the start of this one
 * (an absolute CLOCK_MONOTONIC deadline, so sleeping adds no drift; a write that takes
 * longer than the next gap delays that next write, never the ones after it). The first
 * item's gap counts from program start. Prints, after all writes (printing never
 * disturbs the schedule),
 *   flip i=N value=V t_ns=<CLOCK_MONOTONIC just before write> rt_ns=<CLOCK_REALTIME, read
 *        right after t_ns, still before the write> after_ns=<CLOCK_MONOTONIC just after>
 * Built with gcc -static by hil/prepare.sh; runs in the HIL guest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXW 256

static long long ns(const struct timespec *t) { return (long long)t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(int argc, char **argv)
{
    const char *val[MAXW];
    long long gap_us[MAXW], before[MAXW], real[MAXW], after[MAXW];
    int n = argc - 2, fd, i, rc = 0;
    struct timespec now, target;

    if (argc < 3 || n > MAXW) {
        fprintf(stderr, "usage: flip FILE [GAP_US:]VALUE ... (at most %d)\n", MAXW);
        return 2;
    }
    for (i = 0; i < n; i++) {
        char *a = argv[i + 2], *colon = strchr(a, ':');
        gap_us[i] = 0;
        if (colon) { gap_us[i] = strtoll(a, NULL, 10); a = colon + 1; }
        val[i] = !strcmp(a, "up") ? "pull-up" : !strcmp(a, "down") ? "pull-down" : a;
    }
    fd = open(argv[1], O_WRONLY | O_CLOEXEC);
    if (fd < 0) { fprintf(stderr, "flip: open %s: %s\n", argv[1], strerror(errno)); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &target);
    for (i = 0; i < n; i++) {
        long long t = (i ? before[i - 1] : ns(&target)) + gap_us[i] * 1000LL;
        target.tv_sec = t / 1000000000LL;
        target.tv_nsec = t % 1000000000LL;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, NULL) == EINTR) {}
        clock_gettime(CLOCK_MONOTONIC, &now);
        before[i] = ns(&now);
        clock_gettime(CLOCK_REALTIME, &now);
        real[i] = ns(&now);
        if (pwrite(fd, val[i], strlen(val[i]), 0) < 0) {
            fprintf(stderr, "flip: write %s to %s: %s\n", val[i], argv[1], strerror(errno));
            rc = 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        after[i] = ns(&now);
    }
    close(fd);
    for (i = 0; i < n; i++)
        printf("flip i=%d value=%s t_ns=%lld rt_ns=%lld after_ns=%lld\n", i, val[i], before[i], real[i], after[i]);
    return rc;
}
