/* Reference for the rescan benchmark with control groups: what the kernel charges for a fresh
 * group per service, whoever makes it. For each of N groups under PARENT (a writable cgroup2
 * directory): mkdir, open the directory, and a vfork-style clone3 born in it (CLONE_INTO_CGROUP,
 * the child _exits), against the same clone3 without a group. Prints the difference, the
 * group's own cost per service, in nanoseconds. Removes what it made. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

/* A child born in the group open on `group` (or where we are, for -1) that exits at once. */
static int born_and_gone(int group)
{
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_VFORK | (group >= 0 ? CLONE_INTO_CGROUP : 0);
    args.exit_signal = SIGCHLD;
    args.cgroup = group >= 0 ? group : 0;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return -1;
    return waitpid(pid, NULL, 0) == pid ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "group_floor: usage: group_floor PARENT N\n");
        return 100;
    }
    int n = atoi(argv[2]);
    char base[4096], path[4200];
    snprintf(base, sizeof base, "%s/group-floor-%d", argv[1], getpid());
    if (n < 1 || mkdir(base, 0755) != 0) {
        perror("group_floor: mkdir");
        return 111;
    }
    int failed = 0;
    double with = 0, without = 0;
    for (int i = 0; i < n && !failed; i++) {
        double start = now_ns();
        snprintf(path, sizeof path, "%s/g%d", base, i);
        int fd = mkdir(path, 0755) == 0 ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        failed = fd < 0 || born_and_gone(fd) != 0;
        with += now_ns() - start;
        if (fd >= 0)
            close(fd);
        start = now_ns();
        failed |= born_and_gone(-1) != 0;
        without += now_ns() - start;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/g%d", base, i);
        rmdir(path);
    }
    rmdir(base);
    if (failed) {
        perror("group_floor: a group or a child in it");
        return 111;
    }
    printf("%.0f\n", (with - without) / n);
    return 0;
}
