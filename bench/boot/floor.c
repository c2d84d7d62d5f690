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
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BENCH_NAMES
#error "define BENCH_NAMES"
#endif

#ifdef SUPERVISE_FLOOR
static void supervise_state(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/run/service/%s", name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "/run/service/%s/supervise", name);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "/run/service/%s/supervise/lock", name);
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    flock(lock, LOCK_EX | LOCK_NB);
    snprintf(path, sizeof path, "/run/service/%s/supervise/control", name);
    mkfifo(path, 0600);
    open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    snprintf(path, sizeof path, "/run/service/%s/event", name);
    mkdir(path, 03730);
    char status[35] = {0};
    char fresh[256];
    snprintf(fresh, sizeof fresh, "/run/service/%s/supervise/status.new", name);
    int fd = open(fresh, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    write(fd, status, sizeof status);
    close(fd);
    snprintf(path, sizeof path, "/run/service/%s/supervise/status", name);
    rename(fresh, path);
    snprintf(path, sizeof path, "/run/service/%s/event", name);
    DIR *event = opendir(path);
    if (event) {
        while (readdir(event)) {
        }
        closedir(event);
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
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(0, ",", &save)) {
#ifdef SUPERVISE_FLOOR
        supervise_state(name);
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
