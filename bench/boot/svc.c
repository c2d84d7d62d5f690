/* The one dummy service of the boot benchmark, identical under every init.
 *
 * Started as `./run` in a service directory (ostler, s6, runit: the name is the directory's
 * basename) or as `svc NAME` (busybox init's inittab). On start it:
 *   1. makes /run/up (tmpfs /run: every init mounts it before services start),
 *   2. takes an exclusive flock on /run/up/.lock,
 *   3. creates /run/up/NAME and counts the names in /run/up,
 *   4. when that count reaches BENCH_N (compiled in) and /run/up/.done did not exist yet
 *      (O_EXCL), it reads the kernel's clock (CLOCK_BOOTTIME, the clock behind /proc/uptime)
 *      and /proc/uptime, and writes `ALL-UP <boottime s> <proc uptime> NAME` to /dev/console;
 *   5. sleeps forever.
 * A respawned copy finds its name already there and .done present: it prints nothing again.
 * Any failure is told on the console as `SVC-ERROR ...` (the bench then reports it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_N
#define BENCH_N 20
#endif

static void console(const char *line) {
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) fd = 2;
    (void)!write(fd, line, strlen(line));
    if (fd != 2) close(fd);
}

static void fail(const char *name, const char *what) {
    char line[256];
    snprintf(line, sizeof line, "SVC-ERROR %s: %s: %s\n", name, what, strerror(errno));
    console(line);
    for (;;) pause();
}

int main(int argc, char **argv) {
    static char cwd[4096];
    const char *name;
    if (argc > 1) {
        name = argv[1];
    } else {
        if (!getcwd(cwd, sizeof cwd)) fail("?", "getcwd");
        const char *slash = strrchr(cwd, '/');
        name = slash ? slash + 1 : cwd;
    }
    if (mkdir("/run/up", 0755) < 0 && errno != EEXIST) fail(name, "mkdir /run/up");
    int lock = open("/run/up/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0) fail(name, "open /run/up/.lock");
    if (flock(lock, LOCK_EX) < 0) fail(name, "flock");
    char path[512];
    snprintf(path, sizeof path, "/run/up/%s", name);
    int mine = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (mine < 0) fail(name, "create /run/up/NAME");
    close(mine);
    int count = 0;
    DIR *dir = opendir("/run/up");
    if (!dir) fail(name, "opendir /run/up");
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(dir);
    if (count >= BENCH_N) {
        int done = open("/run/up/.done", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (done >= 0) {
            struct timespec now;
            clock_gettime(CLOCK_BOOTTIME, &now);
            char proc[64] = "none";
            int up = open("/proc/uptime", O_RDONLY | O_CLOEXEC);
            if (up >= 0) {
                ssize_t got = read(up, proc, sizeof proc - 1);
                proc[got > 0 ? got : 0] = 0;
                char *space = strchr(proc, ' ');
                if (space) *space = 0;
                close(up);
            }
            char line[256];
            snprintf(line, sizeof line, "ALL-UP %ld.%06ld %s %s\n", (long)now.tv_sec, now.tv_nsec / 1000, proc,
                     name);
            console(line);
            close(done);
#ifdef BENCH_POWEROFF
            /* --shutdown: the machine goes down as soon as it is all up. */
            console("POWEROFF-START\n");
            execl("/sbin/poweroff", "poweroff", (char *)0);
            fail(name, "exec /sbin/poweroff");
#endif
        }
    }
    flock(lock, LOCK_UN);
    close(lock);
    for (;;) pause();
}
