/* freeze TID SECONDS: stops one thread of a process, and only that thread (PTRACE_SEIZE
 * + PTRACE_INTERRUPT; a SIGSTOP would stop the whole process), and keeps it stopped
 * until it dies or SECONDS pass (then detaches). Prints "frozen tid=N mono_ns=T", then
 * "ended how=exited|killed|detached|gone after_ms=N". A hang of the gateway's input
 * loop, for the watchdog scenario: the other threads (and the watchdog's pinger) run on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: freeze TID SECONDS\n"); return 2; }
  pid_t tid = (pid_t)atoi(argv[1]);
  long long limit = atoll(argv[2]) * 1000000000LL;
  if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0) { fprintf(stderr, "PTRACE_SEIZE %d: %s\n", tid, strerror(errno)); return 1; }
  if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0) { fprintf(stderr, "PTRACE_INTERRUPT %d: %s\n", tid, strerror(errno)); return 1; }
  int st;
  if (waitpid(tid, &st, __WALL) != tid) { fprintf(stderr, "waitpid %d: %s\n", tid, strerror(errno)); return 1; }
  long long t0 = mono_ns();
  printf("frozen tid=%d mono_ns=%lld\n", tid, t0);
  fflush(stdout);
  for (;;) {
    pid_t r = waitpid(tid, &st, __WALL | WNOHANG);
    long long ms = (mono_ns() - t0) / 1000000;
    if (r == tid && WIFEXITED(st)) { printf("ended how=exited after_ms=%lld\n", ms); return 0; }
    if (r == tid && WIFSIGNALED(st)) { printf("ended how=killed signal=%d after_ms=%lld\n", WTERMSIG(st), ms); return 0; }
    /* A new stop (a signal for this thread): it stays stopped, the signal undelivered. */
    if (r < 0 && errno == ECHILD) { printf("ended how=gone after_ms=%lld\n", ms); return 0; }
    if (mono_ns() - t0 > limit) {
      ptrace(PTRACE_DETACH, tid, 0, 0);
      printf("ended how=detached after_ms=%lld\n", ms);
      return 0;
    }
    usleep(10000);
  }
}
