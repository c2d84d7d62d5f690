/* Reference only (the "floor" row): the least an init can do before the 20 services run.
 * As /init it mounts /proc, /sys, /dev (devtmpfs) and /run (tmpfs) like every other image,
 * forks and execs `/bin/svc NAME` for each name given at build time (BENCH_NAMES, a
 * comma-separated list), then reaps children forever. No supervision, no respawn: what is
 * left of the boot time is the kernel's and QEMU's.
 *
 * Built with -DSUPERVISE_FLOOR (the "supervise-floor" row): before each fork+exec it also
 * makes, in /run/service/NAME, the on-disk state s6's protocol asks of any supervisor that
 * s6-svc, s6-svstat and s6-svwait can talk to: supervise/ (0700), supervise/lock opened and
 * locked, supervise/control made and opened, the event/ fifodir (03730), supervise/status
 * written whole (a temporary name, then rename), and `u` announced to event/'s listeners
 * (none here: one open of the directory). The least a supervising init can do per service;
 * it still reads no definitions, keeps nothing in memory and logs nothing.
 *
 * Built with -DRC_FLOOR as well (the "rc-floor" row): the least an s6-rc-shaped service
 * manager adds to that, done in the same process (no second process, no waiting, no
 * parsing): per service it reads the definition's `type` (/etc/floor/sv/NAME/type), makes the
 * live directory /run/live/NAME with `run` linked to /bin/svc, subscribes to its event/
 * fifodir (a FIFO made under a temporary name, opened, renamed in), links it into the scan
 * directory; the supervisor's `u` then goes into that FIFO, and the manager reads it, reads
 * supervise/status and unsubscribes. No control groups, no logger, no state file.
 *
 * Built with -DRC_SPLIT as well (the "split-floor" row): the same work in the two processes
 * an s6 + s6-rc system (and ostler) has. /init forks the manager, which prepares and links
 * every service, tells the scanner once (a byte down a pipe: s6-svscanctl -a), then waits for
 * the N `u` events in one poll loop; /init, on that byte, lists the scan directory and, for
 * each new name, makes the supervisor state and forks+execs the service.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BENCH_NAMES
#error "define BENCH_NAMES"
#endif

#ifdef RC_FLOOR
#define SERVICE "/run/live/%s"
#else
#define SERVICE "/run/service/%s"
#endif

#ifdef RC_FLOOR
/* The manager's half before the supervisor sees the service: read the definition, make the
 * live directory, subscribe to its events, link it into the scan directory. Returns the
 * subscription's FIFO (read end). */
static int manager_prepare(const char *name, char *fifo, size_t size) {
    char path[256], type[64];
    snprintf(path, sizeof path, "/etc/floor/sv/%s/type", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (read(fd, type, sizeof type) <= 0) return -1;
    close(fd);
    snprintf(path, sizeof path, "/run/live/%s", name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "/run/live/%s/run", name);
    symlink("/bin/svc", path);
    snprintf(path, sizeof path, "/run/live/%s/event", name);
    mkdir(path, 0755);
    chmod(path, 03730);
    char temporary[256];
    snprintf(temporary, sizeof temporary, "/run/live/%s/event/.ftrig1:floor", name);
    snprintf(fifo, size, "/run/live/%s/event/ftrig1:floor", name);
    mkfifo(temporary, 0600);
    int sub = open(temporary, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    rename(temporary, fifo);
    char link[256];
    snprintf(path, sizeof path, "/run/live/%s", name);
    snprintf(link, sizeof link, "/run/service/%s", name);
    symlink(path, link);
    return sub;
}

/* The manager's half once the supervisor has announced the start: the event, the status,
 * the subscription gone. */
static void manager_finish(const char *name, int sub, const char *fifo) {
    char event[16], path[256], status[64];
    read(sub, event, sizeof event);
    snprintf(path, sizeof path, "/run/live/%s/supervise/status", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    read(fd, status, sizeof status);
    close(fd);
    unlink(fifo);
    close(sub);
}
#endif

#ifdef SUPERVISE_FLOOR
static void supervise_state(const char *name) {
    char path[256];
    snprintf(path, sizeof path, SERVICE, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, SERVICE "/supervise", name);
    mkdir(path, 0700);
    snprintf(path, sizeof path, SERVICE "/supervise/lock", name);
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    flock(lock, LOCK_EX | LOCK_NB);
    snprintf(path, sizeof path, SERVICE "/supervise/control", name);
    mkfifo(path, 0600);
    open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    snprintf(path, sizeof path, SERVICE "/event", name);
    mkdir(path, 03730);
    char status[35] = {0};
    char fresh[256];
    snprintf(fresh, sizeof fresh, SERVICE "/supervise/status.new", name);
    int fd = open(fresh, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    write(fd, status, sizeof status);
    close(fd);
    snprintf(path, sizeof path, SERVICE "/supervise/status", name);
    rename(fresh, path);
    snprintf(path, sizeof path, SERVICE "/event", name);
    DIR *event = opendir(path);
    if (event) {
        struct dirent *entry;
        while ((entry = readdir(event))) {
            if (strncmp(entry->d_name, "ftrig1:", 7) != 0) continue;
            int fifo = openat(dirfd(event), entry->d_name, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
            if (fifo >= 0) {
                write(fifo, "u", 1);
                close(fifo);
            }
        }
        closedir(event);
    }
}
#endif

#ifdef RC_SPLIT
static void start(char *name) {
    if (fork() == 0) {
        char *argv[] = {"/bin/svc", name, 0};
        execv(argv[0], argv);
        _exit(127);
    }
}

/* The service manager: prepare and link all, tell the scanner, wait for every `u`. */
static void manager(char *names, int tell) {
    char *list[1024], fifos[1024][128];
    struct pollfd subs[1024];
    int n = 0;
    char *save = 0;
    for (char *name = strtok_r(names, ",", &save); name && n < 1024; name = strtok_r(0, ",", &save)) {
        list[n] = name;
        subs[n].fd = manager_prepare(name, fifos[n], sizeof fifos[n]);
        subs[n].events = POLLIN;
        n++;
    }
    write(tell, "a", 1);
    for (int left = n; left > 0;) {
        if (poll(subs, n, -1) <= 0) continue;
        for (int i = 0; i < n; i++) {
            if (subs[i].fd < 0 || !(subs[i].revents & POLLIN)) continue;
            manager_finish(list[i], subs[i].fd, fifos[i]);
            subs[i].fd = -1;
            left--;
        }
    }
    _exit(0);
}

/* The scanner: at each byte from the manager, supervise what is new in /run/service. */
static void scanner(int told) {
    static char known[1024][64];
    int count = 0;
    char byte;
    for (;;) {
        if (read(told, &byte, 1) <= 0) {
            pause();
            continue;
        }
        DIR *scan = opendir("/run/service");
        struct dirent *entry;
        while (scan && (entry = readdir(scan)) && count < 1024) {
            if (entry->d_name[0] == '.') continue;
            int seen = 0;
            for (int i = 0; i < count && !seen; i++) seen = strcmp(known[i], entry->d_name) == 0;
            if (seen) continue;
            snprintf(known[count], sizeof known[count], "%s", entry->d_name);
            supervise_state(known[count]);
            start(known[count]);
            count++;
        }
        if (scan) closedir(scan);
    }
}
#endif

int main(void) {
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
    mount("dev", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    static char names[] = BENCH_NAMES;
    char *save = 0;
#ifdef SUPERVISE_FLOOR
    mkdir("/run/service", 0755);
#endif
#ifdef RC_FLOOR
    mkdir("/run/live", 0755);
#endif
#ifdef RC_SPLIT
    /* Children are reaped by the kernel: the scanner here never restarts anything. */
    signal(SIGCHLD, SIG_IGN);
    int pipefd[2];
    pipe(pipefd);
    if (fork() == 0) {
        close(pipefd[0]);
        manager(names, pipefd[1]);
    }
    close(pipefd[1]);
    scanner(pipefd[0]);
#endif
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(0, ",", &save)) {
#ifdef RC_FLOOR
        char fifo[256];
        int sub = manager_prepare(name, fifo, sizeof fifo);
#endif
#ifdef SUPERVISE_FLOOR
        supervise_state(name);
#endif
#ifdef RC_FLOOR
        manager_finish(name, sub, fifo);
#endif
        if (fork() == 0) {
            char *argv[] = {"/bin/svc", name, 0};
            execv(argv[0], argv);
            _exit(127);
        }
    }
    for (;;) {
        if (wait(0) < 0) pause();
    }
}
