/* waitpath: wait until a path exists (or, with -g, is gone), polling every 1 ms.
 *
 *   waitpath [-g] PATH TIMEOUT_MS
 *
 * Prints the CLOCK_MONOTONIC ns at which the condition was first seen and exits 0;
 * exits 1 on timeout. Built with gcc -static by hil/prepare.sh; runs in the HIL guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static long long mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    int gone = argc > 1 && !strcmp(argv[1], "-g");
    struct stat st;
    struct timespec ms = { 0, 1000000 };
    long long deadline;

    if (argc != 3 + gone) { fprintf(stderr, "usage: waitpath [-g] PATH TIMEOUT_MS\n"); return 2; }
    deadline = mono() + atoll(argv[2 + gone]) * 1000000LL;
    for (;;) {
        int exists = stat(argv[1 + gone], &st) == 0;
        long long now = mono();
        if (exists != gone) { printf("%lld\n", now); return 0; }
        if (now > deadline) return 1;
        nanosleep(&ms, NULL);
    }
}
