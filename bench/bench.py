#!/usr/bin/env python3
"""ostler vs s6 benchmarks (issue 2): respawn latency, tree memory, rescan time.

Run through bench/run, which builds ostler and the `stamp` helper (bench/stamp.c) and raises
`ulimit -n`. Every service's `run` is the static `stamp` helper: at exec it writes
"PID CLOCK_MONOTONIC-ns NAME" to a FIFO this script reads (blocking poll, no polling loop),
optionally signals readiness on fd 3, then sleeps until killed.

Process hygiene: this script makes itself the child subreaper, so every process a benchmark
starts stays its descendant even when orphaned; each benchmark ends by SIGTERM to the
scanner/supervisors it started (by PID), then SIGKILL by PID to whatever descendant is left,
and reaps them all. Temporary trees live under one root that bench/run removes.
"""

import argparse
import ctypes
import errno
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36
S6_BIN = "/usr/bin"


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


# Descendants of this script that a benchmark's clean-up must leave running.
BUSY_PIDS = set()


class BusyLoops:
    """`--busy N`: N shell busy loops (`while :; do :; done`) for the whole run, as a machine
    whose CPUs are all taken (issue 15). Stopped by PID when the run ends, however it ends."""

    def __init__(self, count):
        self.procs = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(count)]
        BUSY_PIDS.update(p.pid for p in self.procs)

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


# ---------------------------------------------------------------------------------------------
# The stamp FIFO


class StampFifo:
    """Reads the one-line records the `stamp` helper writes at exec."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path, 0o666)
        self.rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # Held so the FIFO never reports EOF between writers.
        self.wfd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        self.buf = b""
        self.lines = []
        self.poller = select.poll()
        self.poller.register(self.rfd, select.POLLIN)

    def close(self):
        os.close(self.rfd)
        os.close(self.wfd)

    def read_one(self, deadline_ns):
        """Next record (pid, ns, name), or None when the deadline passes first."""
        while not self.lines:
            left = deadline_ns - now_ns()
            if left <= 0:
                return None
            if not self.poller.poll(max(1, left // 1_000_000)):
                continue
            try:
                chunk = os.read(self.rfd, 65536)
            except BlockingIOError:
                continue
            self.buf += chunk
            *complete, self.buf = self.buf.split(b"\n")
            self.lines.extend(complete)
        pid, ns, name = self.lines.pop(0).decode().split(" ", 2)
        return int(pid), int(ns), os.path.basename(name)

    def read_n(self, count, timeout_s):
        deadline = now_ns() + int(timeout_s * 1e9)
        records = []
        while len(records) < count:
            record = self.read_one(deadline)
            if record is None:
                raise BenchError(f"only {len(records)} of {count} services ran within {timeout_s} s")
            records.append(record)
        return records


# ---------------------------------------------------------------------------------------------
# Processes


def proc_children_map():
    """ppid → [pid] for every process, read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: fields resume after the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(root):
    children = proc_children_map()
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pids):
    """CPU time the processes used themselves (not their reaped children), from
    /proc/PID/schedstat, in seconds: /proc/PID/stat's ticks miss the short runs of s6's
    thousand supervisors."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError):
            continue
    return total / 1e9


def reap_nohang():
    reaped = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped[pid] = status


class Tree:
    """A temporary directory and the processes one benchmark started in it."""

    def __init__(self, root, label):
        self.dir = tempfile.mkdtemp(prefix=f"{label}.", dir=root)
        self.started = []  # pids we spawned directly (scanner or supervisors)
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.fifo = StampFifo(os.path.join(self.dir, "stamps"))
        self.notes = []

    def spawn(self, argv, env, pass_fds=(), cwd=None):
        p = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            start_new_session=True,  # a terminal ^C reaches only this script, which cleans up
        )
        p.returncode = 0  # we reap it ourselves (waitpid(-1)); keep Popen's finalizer quiet
        self.started.append(p.pid)
        return p.pid

    def cgroup(self, env):
        """Gives the scanner a control-group base of its own (OSTLER_CGROUP), so the privileged
        configuration runs each service in its group with its limits; removed in stop()."""
        parent = writable_cgroup2()
        if parent:
            path = os.path.join(parent, f"ostler-bench-{os.getpid()}-{os.path.basename(self.dir)}")
            os.mkdir(path)
            self.cgroup_dir = path
            env["OSTLER_CGROUP"] = path
            return
        self.notes.append("no writable cgroup2 hierarchy: the services run without groups")

    def open_to_all(self):
        """Lets services running as another user reach the stamp FIFO."""
        # The tree, the trees' directory and bench/run's temporary root (all made 0700).
        trees = os.path.dirname(self.dir)
        for path in (os.path.dirname(trees), trees, self.dir):
            os.chmod(path, 0o755)
        os.chmod(self.fifo.path, 0o666)

    def stop(self, grace_s=5.0):
        try:
            self._stop_masked(grace_s)
        finally:
            self._remove_cgroup()

    def _remove_cgroup(self):
        path = getattr(self, "cgroup_dir", None)
        if not path:
            return
        for _ in range(50):
            try:
                for root, dirs, _files in os.walk(path, topdown=False):
                    for d in dirs:
                        os.rmdir(os.path.join(root, d))
                os.rmdir(path)
                return
            except OSError:
                time.sleep(0.1)
        self.notes.append(f"could not remove {path}")

    def _stop_masked(self, grace_s=5.0):
        """SIGTERM what we started, wait for it to exit, SIGKILL any descendant left."""
        # A ^C now must not cut the cleanup short.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        try:
            self._stop(grace_s)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _stop(self, grace_s):
        me = os.getpid()
        for pid in self.started:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        waiting = set(self.started)
        deadline = time.monotonic() + grace_s
        while waiting and time.monotonic() < deadline:
            waiting -= set(reap_nohang())
            waiting = {pid for pid in waiting if os.path.exists(f"/proc/{pid}")}
            time.sleep(0.01)
        if waiting:
            self.notes.append(f"did not exit within {grace_s:.0f} s of SIGTERM: pids {sorted(waiting)}")
        for _ in range(50):
            left = [pid for pid in descendants(me) if pid not in BUSY_PIDS]
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
            reap_nohang()
        else:
            self.notes.append(f"descendants still alive after SIGKILL: {left}")
        reap_nohang()
        self.fifo.close()
        self.log.close()

    def log_text(self):
        with open(os.path.join(self.dir, "log"), "rb") as f:
            return f.read().decode(errors="replace")[-2000:]


# ---------------------------------------------------------------------------------------------
# Service directories and the programs under test


def writable_cgroup2():
    """The cgroup2 hierarchy we may make groups in (the hybrid layout's or the unified one)."""
    for parent in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(parent, "cgroup.procs")) and os.access(parent, os.W_OK):
            return parent
    return None


def group_floor_ns(program, n=200, runs=3):
    """bench/group_floor.c's cost of a fresh group per service (the least of `runs`), or None
    where no cgroup2 hierarchy is writable."""
    parent = writable_cgroup2()
    if not parent:
        return None
    costs = []
    for _ in range(runs):
        done = subprocess.run([program, parent, str(n)], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise BenchError(f"group_floor failed: {done.stderr.strip()}")
        costs.append(float(done.stdout))
    return min(costs)


class Setup:
    def __init__(self, ostler, stamp, floor, root, group_floor=None):
        self.ostler = os.path.abspath(ostler)
        self.floor = os.path.abspath(floor)
        self.group_floor_ns = group_floor_ns(group_floor) if group_floor else None
        self.root = root
        # The helper lives on the same filesystem as the trees, so each run is a hard link.
        self.stamp = os.path.join(root, "stamp")
        shutil.copy2(stamp, self.stamp)
        # --supervisor runs `PROGRAM NAME`; ostler acts as `ostler supervise` when its
        # argv[0] is s6-supervise.
        bindir = os.path.join(root, "bin")
        os.mkdir(bindir)
        self.ostler_as_supervise = os.path.join(bindir, "s6-supervise")
        os.symlink(self.ostler, self.ostler_as_supervise)

    def make_service(self, path, notify, privileged=False):
        os.mkdir(path)
        os.link(self.stamp, os.path.join(path, "run"))
        if notify:
            with open(os.path.join(path, "notification-fd"), "w") as f:
                f.write("3\n")
        if privileged:
            # What a least-privilege daemon declares (docs/service-directory.md): another
            # user, one capability kept across the change of user, no_new_privs, limits, a
            # umask, and the control group's limits (ignored where there are no cgroups).
            for name, text in PRIVILEGE_FILES.items():
                with open(os.path.join(path, name), "w") as f:
                    f.write(text)

    def env(self, tree, notify):
        env = {"PATH": f"{S6_BIN}:/bin", "BENCH_FIFO": tree.fifo.path}
        if notify:
            env["BENCH_NOTIFY"] = "3"
        return env

    def scanner_argv(self, kind, scandir, max_services, ready_fd):
        kind = "ostler" if kind in ("ostler-priv", "ostler-cg") else kind
        if kind == "s6":
            return [f"{S6_BIN}/s6-svscan", "-c", str(max_services), "-d", str(ready_fd), scandir]
        argv = [self.ostler, "svscan", "-c", str(max_services), "-d", str(ready_fd)]
        if kind == "ostler-sup":
            argv += ["--supervisor", self.ostler_as_supervise]
        return argv + [scandir]

    def start_scanner(self, tree, kind, scandir, max_services, env):
        """Starts a scanner and waits for its -d readiness newline. Returns its pid."""
        r, w = os.pipe()
        try:
            pid = tree.spawn(self.scanner_argv(kind, scandir, max_services, w), env, pass_fds=(w,))
        finally:
            os.close(w)
        try:
            ready, _, _ = select.select([r], [], [], 10)
            if not ready or os.read(r, 1) != b"\n":
                raise BenchError(f"{kind} scanner not ready within 10 s; log: {tree.log_text()}")
        finally:
            os.close(r)
        return pid


# ---------------------------------------------------------------------------------------------
# 1. Respawn latency

# The files of the privileged configurations (bench 4). The run (bench/stamp.c) needs nothing
# of root's; as nobody it writes its stamp to the FIFO, which is made world-writable for it.
PRIVILEGE_FILES = {
    "user": "65534:65534\n",
    "capabilities": "cap_net_bind_service\n",
    "ambient-capabilities": "cap_net_bind_service\n",
    "no-new-privs": "",
    "limits": "nofile 1024:4096\ncore 0\n",
    "umask": "027\n",
    "memory-max": "256M\n",
    "pids-max": "64\n",
}

RESPAWN_KINDS = {
    # label: (how, program)
    "ostler svscan (in-process)": ("scan", "ostler"),
    "ostler svscan + privilege files": ("scan", "ostler-priv"),
    "s6-svscan + s6-supervise": ("scan", "s6"),
    "ostler supervise": ("standalone", "ostler"),
    "s6-supervise": ("standalone", "s6"),
    # Not a contender: bench/floor.c, fork + exec + waitpid and nothing else (kernel share).
    "floor: fork+exec loop in C": ("standalone", "floor"),
}


def respawn(setup, label, samples, services=10, gap_s=0.13, ready_for_s=1.2):
    """SIGKILL a ready service (ready ≥ ready_for_s) and time kill → new run's exec.

    `services` services are killed round-robin, one kill every gap_s, so each service has
    been ready for more than a second when killed (no restart pacing) and only one respawn
    is in flight at a time. One warm-up kill per service is discarded."""
    how, program = RESPAWN_KINDS[label]
    tree = Tree(setup.root, "respawn")
    try:
        env = setup.env(tree, notify=True)
        names = [f"svc{i}" for i in range(services)]
        privileged = program == "ostler-priv"
        if privileged:
            tree.open_to_all()
            tree.cgroup(env)
        if how == "scan":
            scandir = os.path.join(tree.dir, "scan")
            os.mkdir(scandir)
            for name in names:
                setup.make_service(os.path.join(scandir, name), notify=True, privileged=privileged)
            setup.start_scanner(tree, program, scandir, 1000, env)
        else:
            for name in names:
                path = os.path.join(tree.dir, name)
                setup.make_service(path, notify=True)
                argv = {"ostler": [setup.ostler, "supervise", path],
                        "s6": [f"{S6_BIN}/s6-supervise", path],
                        "floor": [setup.floor, path]}[program]
                tree.spawn(argv, env)
        state = {name: (pid, ns) for pid, ns, name in tree.fifo.read_n(services, 10)}
        latencies = []
        last_kill = 0
        for i in range(samples + services):
            name = names[i % services]
            pid, exec_ns = state[name]
            wake = max(exec_ns + int(ready_for_s * 1e9), last_kill + int(gap_s * 1e9))
            delay = wake - now_ns()
            if delay > 0:
                time.sleep(delay / 1e9)
            last_kill = now_ns()
            os.kill(pid, signal.SIGKILL)
            record = tree.fifo.read_one(now_ns() + 5_000_000_000)
            if record is None:
                raise BenchError(f"{name} was not restarted within 5 s of SIGKILL; log: {tree.log_text()}")
            new_pid, new_ns, new_name = record
            if new_name != name:
                raise BenchError(f"killed {name} but {new_name} started")
            if i >= services:
                latencies.append(new_ns - last_kill)
            state[name] = (new_pid, new_ns)
        return {"samples_ns": latencies, "notes": tree.notes}
    finally:
        tree.stop()


# ---------------------------------------------------------------------------------------------
# 2 + 3. Rescan → all N running, then the memory of the tree

SCAN_KINDS = {
    "ostler svscan (in-process)": "ostler",
    "ostler svscan + control groups": "ostler-cg",
    "ostler svscan + privilege files": "ostler-priv",
    "s6-svscan + s6-supervise": "s6",
    "ostler svscan --supervisor (ostler supervise)": "ostler-sup",
}

ROLLUP_FIELDS = ("Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean", "Shared_Dirty")


def smaps_rollup(pid):
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ROLLUP_FIELDS:
                values[key] = int(rest.split()[0])  # kB
    return values


def page_tables_kib(pid):
    """VmPTE: kernel memory for the page tables, which smaps does not count."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmPTE:"):
                return int(line.split()[1])
    return 0


def tree_memory(scanner, service_pids):
    """Scanner + its children that are not services (= the supervisors), summed."""
    children = proc_children_map()
    supervisors = [pid for pid in children.get(scanner, []) if pid not in service_pids]
    total = dict.fromkeys(ROLLUP_FIELDS + ("VmPTE",), 0)
    per_process = {}
    for pid in [scanner] + supervisors:
        rollup = smaps_rollup(pid)
        rollup["VmPTE"] = page_tables_kib(pid)
        per_process[pid] = rollup
        for key in total:
            total[key] += rollup[key]
    return {"processes": 1 + len(supervisors), "supervisors": len(supervisors), "total_kib": total,
            "scanner_kib": per_process[scanner]}


def rescan(setup, label, n, settle_s=1.0, timeout_s=120):
    kind = SCAN_KINDS[label]
    tree = Tree(setup.root, f"rescan{n}")
    try:
        env = setup.env(tree, notify=False)
        stage = os.path.join(tree.dir, "stage")
        scandir = os.path.join(tree.dir, "scan")
        os.mkdir(stage)
        os.mkdir(scandir)
        names = [f"svc{i:04d}" for i in range(n)]
        if kind == "ostler-priv":
            tree.open_to_all()
        if kind in ("ostler-priv", "ostler-cg"):
            tree.cgroup(env)
        for name in names:
            setup.make_service(os.path.join(stage, name), notify=False, privileged=kind == "ostler-priv")
        scanner = setup.start_scanner(tree, kind, scandir, max(1000, n), env)
        # s6-svscan 2.11 may answer -d before its first scan has run; give both scanners time
        # to go idle so that scan cannot pick up half of the directories moved in below.
        time.sleep(0.3)
        idle = tree_memory(scanner, set())
        for name in names:
            os.rename(os.path.join(stage, name), os.path.join(scandir, name))
        start = now_ns()
        ctl = subprocess.run([f"{S6_BIN}/s6-svscanctl", "-a", scandir], capture_output=True)
        if ctl.returncode != 0:
            raise BenchError(f"s6-svscanctl -a exited {ctl.returncode}: {ctl.stderr!r}")
        records = tree.fifo.read_n(n, timeout_s)
        started = {name for _, _, name in records}
        if started != set(names):
            raise BenchError(f"{len(started)} distinct services ran, expected {n}")
        last = max(ns for _, ns, _ in records)
        first = min(ns for _, ns, _ in records)
        if first < start:
            tree.notes.append(f"a service started {ms(start - first)} ms before s6-svscanctl -a")
        time.sleep(settle_s)
        # Let a late double start show itself: exactly n runs must have happened.
        extra = tree.fifo.read_one(now_ns())
        if extra is not None:
            tree.notes.append(f"unexpected extra run after all {n} started: {extra}")
        memory = tree_memory(scanner, {pid for pid, _, _ in records})
        expected_supervisors = 0 if kind in ("ostler", "ostler-priv", "ostler-cg") else n
        if memory["supervisors"] != expected_supervisors:
            tree.notes.append(f"{memory['supervisors']} supervisor processes, expected {expected_supervisors}")
        return {
            "all_ns": last - start,
            "first_ns": first - start,
            "memory": memory,
            "idle_scanner_kib": idle["scanner_kib"],
            "notes": tree.notes,
        }
    finally:
        tree.stop()


# ---------------------------------------------------------------------------------------------
# Report


def pct(sorted_values, p):
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def ms(ns):
    return f"{ns / 1e6:.3f}"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ostler", required=True)
    parser.add_argument("--stamp", required=True)
    parser.add_argument("--floor", required=True)
    parser.add_argument("--group-floor", help="bench/group_floor.c, built (rescan only)")
    parser.add_argument("--root", required=True, help="temporary directory (removed by the caller)")
    parser.add_argument("--samples", type=int, default=50, help="respawn samples per configuration")
    parser.add_argument("--rounds", type=int, default=2, help="respawn: configurations alternate in this many rounds")
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--repeats", type=int, default=3, help="rescan runs per configuration and size")
    parser.add_argument("--only", default="respawn,memory,rescan")
    parser.add_argument("--json", help="also write raw results here")
    parser.add_argument("--busy", type=int, default=0, help="busy loops running during the whole run (issue 15)")
    args = parser.parse_args()
    busy = BusyLoops(args.busy)
    try:
        return run(args)
    finally:
        busy.stop()


def run(args):

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    only = set(args.only.split(","))
    setup = Setup(args.ostler, args.stamp, args.floor, args.root, args.group_floor if "rescan" in only else None)
    sizes = [int(s) for s in args.sizes.split(",")]
    failures = []
    failed = set()  # configurations that failed once are not retried
    results = {"binary_size": os.stat(args.ostler).st_size, "load_before": loadavg(),
               "nofile": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0]}

    out = sys.stdout
    out.write(f"ostler binary: {args.ostler}, {results['binary_size']} bytes\n")
    out.write(f"load average before: {results['load_before']}, cpus: {os.cpu_count()}, ulimit -n: {results['nofile']}, "
              f"busy loops: {args.busy}\n\n")
    results["busy"] = args.busy
    out.flush()

    if "respawn" in only:
        per_round = [args.samples // args.rounds + (1 if r < args.samples % args.rounds else 0)
                     for r in range(args.rounds)]
        samples = {label: [] for label in RESPAWN_KINDS}
        for count in per_round:
            for label in RESPAWN_KINDS:
                if label in failed:
                    continue
                try:
                    r = respawn(setup, label, count)
                    samples[label] += r["samples_ns"]
                    for note in r["notes"]:
                        failures.append(f"respawn {label}: {note}")
                except BenchError as e:
                    failed.add(label)
                    failures.append(f"respawn {label}: {e}")
        results["respawn"] = samples
        out.write("1. Respawn latency: SIGKILL of a service ready for >1 s -> new run exec (ms)\n")
        out.write(f"   {'configuration':<30} {'n':>4} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}\n")
        med = {}
        for label, values in samples.items():
            if not values:
                out.write(f"   {label:<30} FAILED\n")
                continue
            v = sorted(values)
            med[label] = statistics.median(v)
            out.write(f"   {label:<30} {len(v):>4} {ms(med[label]):>8} {ms(pct(v, 90)):>8} {ms(v[0]):>8} {ms(v[-1]):>8}\n")
        if "ostler svscan + privilege files" in med and "ostler svscan (in-process)" in med:
            a, b = "ostler svscan + privilege files", "ostler svscan (in-process)"
            out.write(f"   ratio with / without privilege files: median {med[a] / med[b]:.2f}"
                      f" (issue 14: <= 1.2)\n")
        for a, b in (("ostler svscan (in-process)", "s6-svscan + s6-supervise"), ("ostler supervise", "s6-supervise")):
            if a in med and b in med:
                pa, pb = pct(sorted(samples[a]), 90), pct(sorted(samples[b]), 90)
                out.write(f"   ratio {a} / {b}: median {med[a] / med[b]:.2f}, p90 {pa / pb:.2f}")
                floor = med.get("floor: fork+exec loop in C")
                if floor is not None and med[b] > floor:
                    out.write(f"; above the floor: {(med[a] - floor) / (med[b] - floor):.2f}")
                out.write("\n")
        out.write("\n")
        out.flush()

    if "memory" in only or "rescan" in only:
        scan = {}
        for n in sizes:
            for rep in range(args.repeats):
                for label in SCAN_KINDS:
                    key = f"{label} N={n}"
                    if key in failed:
                        continue
                    try:
                        r = rescan(setup, label, n)
                        scan.setdefault(key, []).append(r)
                        for note in r["notes"]:
                            failures.append(f"rescan {key}: {note}")
                    except BenchError as e:
                        failed.add(key)
                        failures.append(f"rescan {key}: {e}")
        results["scan"] = scan

        if "memory" in only:
            out.write("2. Memory of the scanner + supervisor processes, services excluded (KiB, smaps_rollup;\n")
            out.write("   median of the runs; per service = total / N; VmPTE = page tables, kernel side)\n")
            out.write(f"   {'N':>5} {'configuration':<46} {'procs':>5} {'Priv_Dirty':>10} {'/svc':>7} {'Pss':>8} {'/svc':>7} {'VmPTE':>6}\n")
            for n in sizes:
                base = {}
                for label in SCAN_KINDS:
                    runs = scan.get(f"{label} N={n}")
                    if not runs:
                        out.write(f"   {n:>5} {label:<46} FAILED\n")
                        continue
                    m = runs[0]["memory"]
                    t = {key: statistics.median(r["memory"]["total_kib"][key] for r in runs)
                         for key in m["total_kib"]}
                    base[label] = t
                    out.write(f"   {n:>5} {label:<46} {m['processes']:>5} {t['Private_Dirty']:>10.0f} "
                              f"{t['Private_Dirty'] / n:>7.1f} {t['Pss']:>8.0f} {t['Pss'] / n:>7.1f} {t['VmPTE']:>6.0f}\n")
                s6 = base.get("s6-svscan + s6-supervise")
                for label in ("ostler svscan (in-process)", "ostler svscan --supervisor (ostler supervise)"):
                    if s6 and label in base:
                        out.write(f"   {n:>5} ratio {label} / s6: Private_Dirty "
                                  f"{base[label]['Private_Dirty'] / s6['Private_Dirty']:.3f}, "
                                  f"Pss {base[label]['Pss'] / s6['Pss']:.3f}\n")
            out.write("\n")

        if "rescan" in only:
            out.write(f"3. Rescan -> all N run programs exec'd: s6-svscanctl -a to the last run's exec (ms,\n")
            out.write(f"   median of {args.repeats} runs; each run starts a fresh scanner on an empty scan dir)\n")
            out.write(f"   {'N':>5} {'configuration':<46} {'median':>9} {'min':>9} {'max':>9} {'first':>8}\n")
            for n in sizes:
                med = {}
                for label in SCAN_KINDS:
                    runs = scan.get(f"{label} N={n}")
                    if not runs:
                        out.write(f"   {n:>5} {label:<46} FAILED\n")
                        continue
                    v = sorted(r["all_ns"] for r in runs)
                    med[label] = statistics.median(v)
                    first = statistics.median(r["first_ns"] for r in runs)
                    out.write(f"   {n:>5} {label:<46} {ms(med[label]):>9} {ms(v[0]):>9} {ms(v[-1]):>9} {ms(first):>8}\n")
                s6 = med.get("s6-svscan + s6-supervise")
                for label in ("ostler svscan (in-process)", "ostler svscan --supervisor (ostler supervise)"):
                    if s6 and label in med:
                        goal = " (issue 15: <= 0.5)" if label == "ostler svscan (in-process)" else ""
                        out.write(f"   {n:>5} ratio {label} / s6: {med[label] / s6:.3f}{goal}\n")
                plain, priv = med.get("ostler svscan (in-process)"), med.get("ostler svscan + privilege files")
                groups = med.get("ostler svscan + control groups")
                if plain and priv:
                    out.write(f"   {n:>5} ratio with / without privilege files and groups: {priv / plain:.3f}\n")
                if groups and priv:
                    # On a booted machine every longrun has its group, declared privileges or not.
                    out.write(f"   {n:>5} ratio with / without privilege files, both with groups: {priv / groups:.3f}"
                              " (issue 14: <= 1.2)\n")
                if plain and setup.group_floor_ns:
                    floor = (plain + n * setup.group_floor_ns) / plain
                    out.write(f"   {n:>5} kernel floor of a fresh group per service "
                              f"({setup.group_floor_ns / 1000:.1f} us each, bench/group_floor.c): "
                              f"{floor:.3f} x the plain time\n")
            out.write("\n")

    results["load_after"] = loadavg()
    out.write(f"load average after: {results['load_after']}\n")
    if failures:
        out.write("\nPROBLEMS:\n")
        for f in failures:
            out.write(f"  - {f}\n")
    results["problems"] = failures
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Interrupted as e:
        print(f"bench.py: interrupted ({e}); processes stopped", file=sys.stderr)
        sys.exit(130)
