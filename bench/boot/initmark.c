/* Optional (`--mark-init`): a shim installed as /init in front of every image's real init
 * (moved to /init.real). It writes `INIT-START <CLOCK_BOOTTIME s>` to /dev/console (a node
 * shipped in every image) and execs /init.real with argv[0] = "/init", so the real init
 * sees what it would have seen. It splits the boot into "kernel to /init" and "/init to all
 * services up", at the cost of one small static exec, the same in every image.
 *
 * Built with -DBENCH_TRACE (`--trace`), it first mounts tracefs and turns on the kernel's
 * scheduler fork/exec/exit/switch events, every system call's entry and exit and every page
 * fault, with the monotonic clock, and forks a child that, 3 s later (long after all-up), stops
 * tracing and copies the trace to the console between TRACE-BEGIN and TRACE-END.
 * `trace_report.py` reads it: time on the CPU per process, system calls by kind, page faults.
 * Under `--icount 0` the clock counts instructions, so the figures say where an init's work
 * goes, whatever the host is doing. Tracing costs about 15 % more guest time; compare traced
 * boots with traced boots.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_TRACE
#include <sys/mount.h>
#include <sys/stat.h>

static void put(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) < 0)
        dprintf(2, "initmark: unable to write %s to %s\n", value, path);
    if (fd >= 0)
        close(fd);
}

static const char *const EVENTS[] = {
    "sched/sched_process_fork", "sched/sched_process_exec", "sched/sched_process_exit",
    "sched/sched_switch", "raw_syscalls/sys_enter", "raw_syscalls/sys_exit",
    "exceptions/page_fault_user", "exceptions/page_fault_kernel",
};

static void start_tracing(void) {
    mkdir("/tracing", 0700);
    if (mount("tracefs", "/tracing", "tracefs", 0, 0) != 0)
        dprintf(2, "initmark: unable to mount tracefs (CONFIG_FTRACE?)\n");
    put("/tracing/buffer_size_kb", "32768");
    put("/tracing/trace_clock", "mono");
    char path[128];
    for (size_t i = 0; i < sizeof EVENTS / sizeof *EVENTS; i++) {
        snprintf(path, sizeof path, "/tracing/events/%s/enable", EVENTS[i]);
        put(path, "1");
    }
    put("/tracing/tracing_on", "1");
}

/* In a child, 3 s from now: the trace to the console. */
static void dump_trace_later(void) {
    if (fork() != 0)
        return;
    sleep(3);
    put("/tracing/tracing_on", "0");
    int in = open("/tracing/trace", O_RDONLY);
    int out = open("/dev/console", O_WRONLY | O_NOCTTY);
    char buf[65536];
    ssize_t got;
    (void)!write(out, "TRACE-BEGIN\n", 12);
    while ((got = read(in, buf, sizeof buf)) > 0)
        (void)!write(out, buf, got);
    (void)!write(out, "TRACE-END\n", 10);
    _exit(0);
}
#endif

int main(int argc, char **argv, char **envp) {
#ifdef BENCH_TRACE
    start_tracing();
#endif
    struct timespec now;
    clock_gettime(CLOCK_BOOTTIME, &now);
    char line[64];
    int n = snprintf(line, sizeof line, "INIT-START %ld.%06ld\n", (long)now.tv_sec, now.tv_nsec / 1000);
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!write(fd, line, n);
        close(fd);
    }
#ifdef BENCH_TRACE
    dump_trace_later();
#endif
    argv[0] = "/init";
    (void)argc;
    execve("/init.real", argv, envp);
    return 127;
}
