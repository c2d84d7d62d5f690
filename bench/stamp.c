/* The service `run` program of ostler's benchmarks. Compiled static by bench/run.
 *
 * At exec it reads CLOCK_MONOTONIC first thing, then:
 *   - if $BENCH_FIFO is set, writes one line "PID NS NAME\n" to that FIFO (opened
 *     O_WRONLY|O_NONBLOCK: no reader means nobody is measuring, so it skips, never blocks;
 *     the line is shorter than PIPE_BUF, so concurrent writers never interleave);
 *   - if $BENCH_NOTIFY names a fd, writes "\n" to it and closes it (s6 readiness);
 *   - then sleeps until killed.
 * It is the service itself, exec'd directly by the supervisor as ./run, so the stamp is
 * the moment the new run program starts; a shell or `date` would add milliseconds. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;

    const char *fifo = getenv("BENCH_FIFO");
    if (fifo != NULL && *fifo != '\0') {
        int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            char line[256];
            int n = snprintf(line, sizeof line, "%ld %lld %s\n", (long)getpid(), ns,
                             argc > 1 ? argv[1] : "-");
            if (n > 0 && n < (int)sizeof line) {
                ssize_t w = write(fd, line, (size_t)n);
                (void)w;
            }
            close(fd);
        }
    }

    const char *notify = getenv("BENCH_NOTIFY");
    if (notify != NULL && *notify != '\0') {
        int nfd = atoi(notify);
        if (nfd >= 3 && fcntl(nfd, F_GETFD) >= 0) {
            ssize_t w = write(nfd, "\n", 1);
            (void)w;
            close(nfd);
        }
    }

    for (;;)
        pause();
}
