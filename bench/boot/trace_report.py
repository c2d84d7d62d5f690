#!/usr/bin/env python3
"""Reads a serial log of a `--trace` boot (see initmark.c, BENCH_TRACE) and says where the time from
INIT-START to ALL-UP went: time on the CPU per process, its system calls and page faults, and
the system calls of the whole boot by kind.

    bench/boot/trace_report.py LOG [LOG...]
"""
import collections
import re
import sys

LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+): (.*)$")
SWITCH = re.compile(r"prev_pid=(\d+).*next_comm=(.+?) next_pid=(\d+)")

# x86_64 system call numbers of the calls an init makes, for the table.
NAMES = {
    0: "read", 1: "write", 2: "open", 3: "close", 4: "stat", 5: "fstat", 6: "lstat", 7: "poll",
    8: "lseek", 9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk", 13: "rt_sigaction",
    14: "rt_sigprocmask", 16: "ioctl", 17: "pread64", 18: "pwrite64", 21: "access", 32: "dup",
    33: "dup2", 39: "getpid", 56: "clone", 57: "fork", 58: "vfork", 59: "execve", 61: "wait4",
    62: "kill", 72: "fcntl", 73: "flock", 77: "ftruncate", 79: "getcwd", 80: "chdir",
    82: "rename", 83: "mkdir", 87: "unlink", 88: "symlink", 89: "readlink", 90: "chmod",
    92: "chown", 95: "umask", 108: "getegid", 112: "setsid", 128: "rt_sigtimedwait", 133: "mknod",
    160: "setrlimit", 165: "mount", 217: "getdents64", 218: "set_tid_address", 228: "clock_gettime",
    231: "exit_group", 257: "openat", 258: "mkdirat", 262: "newfstatat", 263: "unlinkat",
    270: "pselect6", 271: "ppoll", 275: "splice", 289: "signalfd4", 293: "pipe2", 302: "prlimit64",
    318: "getrandom", 332: "statx", 434: "pidfd_open", 435: "clone3", 436: "close_range",
}


def summarise(log):
    """The report for one serial log, as text."""
    start = re.search(r"INIT-START (\d+\.\d+)", log)
    end = re.search(r"ALL-UP (\d+\.\d+)", log)
    if not (start and end and "TRACE-BEGIN" in log and "TRACE-END" in log):
        return "no complete trace in this log (INIT-START, ALL-UP, TRACE-BEGIN…TRACE-END)\n"
    start, end = float(start.group(1)), float(end.group(1))
    names, on_cpu, faults = {}, collections.Counter(), collections.Counter()
    calls = collections.defaultdict(lambda: [0, 0.0])
    inside = {}
    last = start
    for line in log[log.index("TRACE-BEGIN"):log.index("TRACE-END")].splitlines():
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, when, event, rest = m.group(1).strip(), int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)
        if not start <= when <= end:
            continue
        names.setdefault(pid, comm)
        if event == "sched_switch":
            s = SWITCH.search(rest)
            if s:
                on_cpu[int(s.group(1))] += when - last
                last = when
                names.setdefault(int(s.group(3)), s.group(2))
        elif event == "sys_enter":
            inside[pid] = (int(rest.split()[1]), when)
        elif event == "sys_exit" and pid in inside:
            number, since = inside.pop(pid)
            calls[(pid, number)][0] += 1
            calls[(pid, number)][1] += when - since
        elif event.startswith("page_fault"):
            faults[pid] += 1
    out = [f"INIT-START to ALL-UP: {1000 * (end - start):.1f} ms (traced)",
           f"{'pid':>5} {'process':16} {'on CPU ms':>9} {'syscalls':>8} {'faults':>6}"]
    for pid, seconds in on_cpu.most_common(12):
        count = sum(v[0] for (p, _), v in calls.items() if p == pid)
        out.append(f"{pid:5} {names.get(pid, '?'):16} {1000 * seconds:9.2f} {count:8} {faults[pid]:6}")
    rest = on_cpu.most_common()[12:]
    if rest:
        out.append(f"{'':5} {f'{len(rest)} more':16} {1000 * sum(s for _, s in rest):9.2f}")
    by_kind = collections.defaultdict(lambda: [0, 0.0])
    for (_, number), (count, seconds) in calls.items():
        by_kind[number][0] += count
        by_kind[number][1] += seconds
    out.append("system calls by kind (count, time inside, including blocking):")
    for number, (count, seconds) in sorted(by_kind.items(), key=lambda kv: -kv[1][0])[:20]:
        out.append(f"  {NAMES.get(number, str(number)):16} {count:6} {1000 * seconds:8.2f} ms")
    out.append(f"page faults: {sum(faults.values())}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        print(f"== {path}")
        print(summarise(open(path, errors="replace").read()))
