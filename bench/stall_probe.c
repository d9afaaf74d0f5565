/* One CPU's sleeper for bench/stalls.py: wakes every PERIOD ns at SCHED_FIFO and, on SIGTERM,
 * prints each wake-up later than THRESHOLD ns as "due woke" (CLOCK_MONOTONIC seconds).
 * In C so that its own wake-up costs microseconds: at real-time priority it runs ahead of the
 * daemon it watches, and a Python sleeper held that CPU for up to 0.4 ms.
 * Usage: stall_probe PERIOD_NS THRESHOLD_NS */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define MAX_LATE 65536

static volatile sig_atomic_t stop;
static struct timespec late[MAX_LATE][2];

static void on_term(int sig) { (void)sig; stop = 1; }

static long long ns(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    long long period = atoll(argv[1]), threshold = atoll(argv[2]);
    struct sched_param param = {.sched_priority = 1};
    sched_setscheduler(0, SCHED_FIFO, &param); /* best effort: unprivileged runs stay normal */
    mlockall(MCL_CURRENT | MCL_FUTURE);
    signal(SIGTERM, on_term);
    printf("ready\n");
    fflush(stdout);
    size_t n = 0;
    struct timespec due, now;
    clock_gettime(CLOCK_MONOTONIC, &due);
    while (!stop) {
        long long next = ns(&due) + period;
        due.tv_sec = next / 1000000000LL;
        due.tv_nsec = next % 1000000000LL;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ns(&now) - ns(&due) > threshold && n < MAX_LATE) {
            late[n][0] = due;
            late[n][1] = now;
            n++;
        }
        if (ns(&now) > ns(&due))
            due = now; /* after a stall, the next period starts now */
    }
    for (size_t i = 0; i < n; i++)
        printf("%lld.%09ld %lld.%09ld\n", (long long)late[i][0].tv_sec, late[i][0].tv_nsec,
               (long long)late[i][1].tv_sec, late[i][1].tv_nsec);
    return 0;
}
