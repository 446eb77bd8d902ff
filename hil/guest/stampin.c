/* stampin: stamp every line arriving on stdin with CLOCK_MONOTONIC, taken right after
 * the read(2) that brought its end in. For a program that prints one line per event
 * and flushes (Debian's gpiomon): stamp - event time = the event's path through that
 * program and a pipe, an upper bound of its detection time.
 *
 *   producer | stampin [MAXLINES]
 *
 * Collects everything first, then prints at EOF (printing never delays a read):
 *   stampin mono_ns=<stamp> <the line as read>
 * Built with gcc -static by hil/prepare.sh; runs in the HIL guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXL 4096
#define LINELEN 200

static char lines[MAXL][LINELEN];
static long long stamp[MAXL];

int main(int argc, char **argv)
{
    int max = argc > 1 ? atoi(argv[1]) : MAXL, n = 0, len = 0, i;
    char buf[4096], cur[LINELEN];
    ssize_t r;

    if (max < 1 || max > MAXL) max = MAXL;
    while (n < max && (r = read(0, buf, sizeof buf)) > 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        for (i = 0; i < r && n < max; i++) {
            if (buf[i] == '\n') {
                cur[len] = 0;
                memcpy(lines[n], cur, len + 1);
                stamp[n++] = (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
                len = 0;
            } else if (len < LINELEN - 1) {
                cur[len++] = buf[i];
            }
        }
    }
    for (i = 0; i < n; i++)
        printf("stampin mono_ns=%lld %s\n", stamp[i], lines[i]);
    return 0;
}
