/* monotime: print CLOCK_MONOTONIC in nanoseconds (the clock of GPIO edge stamps).
 * Built with gcc -static by hil/prepare.sh; runs in the HIL guest. */
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    clockid_t id = CLOCK_MONOTONIC;
    struct timespec ts;

    if (argc > 1 && strcmp(argv[1], "realtime") == 0)
        id = CLOCK_REALTIME;
    else if (argc > 1 && strcmp(argv[1], "boottime") == 0)
        id = CLOCK_BOOTTIME;
    if (clock_gettime(id, &ts) != 0) {
        perror("clock_gettime");
        return 1;
    }
    printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}
