/* Reference only (the "floor" row): the least an init can do before the 20 services run.
 * As /init it mounts /proc, /sys, /dev (devtmpfs) and /run (tmpfs) like every other image,
 * forks and execs `/bin/svc NAME` for each name given at build time (BENCH_NAMES, a
 * comma-separated list), then reaps children forever. No supervision, no respawn: what is
 * left of the boot time is the kernel's and QEMU's.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BENCH_NAMES
#error "define BENCH_NAMES"
#endif

int main(void) {
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
    mount("dev", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    static char names[] = BENCH_NAMES;
    char *save = 0;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(0, ",", &save)) {
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
