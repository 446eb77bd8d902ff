/* clocksync: tells the kernel its clock is synchronised (clears STA_UNSYNC,
 * sets small error bounds), as a time daemon does once it has locked on, so
 * that `panicctl doctor` can be run to a clean pass in the HIL guest.
 * Prints the clock state adjtimex returns (0 = TIME_OK). Built with
 * gcc -static by hil/prepare.sh; runs in the HIL guest only. */
#include <stdio.h>
#include <string.h>
#include <sys/timex.h>

int main(void)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    if (adjtimex(&tx) < 0) { perror("adjtimex (read)"); return 1; }
    tx.modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR;
    tx.status &= ~STA_UNSYNC;
    tx.maxerror = 1000;
    tx.esterror = 100;
    int state = adjtimex(&tx);
    if (state < 0) { perror("adjtimex (set)"); return 1; }
    printf("%d\n", state);
    return state == TIME_OK ? 0 : 2;
}
