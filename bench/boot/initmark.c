/* Optional (`--mark-init`): a shim installed as /init in front of every image's real init
 * (moved to /init.real). It writes `INIT-START <CLOCK_BOOTTIME s>` to /dev/console (a node
 * shipped in every image) and execs /init.real with argv[0] = "/init", so the real init
 * sees what it would have seen. It splits the boot into "kernel to /init" and "/init to all
 * services up", at the cost of one small static exec, the same in every image.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv, char **envp) {
    struct timespec now;
    clock_gettime(CLOCK_BOOTTIME, &now);
    char line[64];
    int n = snprintf(line, sizeof line, "INIT-START %ld.%06ld\n", (long)now.tv_sec, now.tv_nsec / 1000);
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!write(fd, line, n);
        close(fd);
    }
    argv[0] = "/init";
    (void)argc;
    execve("/init.real", argv, envp);
    return 127;
}
