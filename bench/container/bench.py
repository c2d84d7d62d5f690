"""ostler init --container against tini, catatonit and dumb-init: start-to-exit natively and under
runc, the init's peak and private memory, and the stop after SIGTERM with 20 services. See
README.md."""
import argparse, json, os, random, resource, shutil, signal, statistics, subprocess, sys, time

from peak import peak
from under_runc import Runc, make_root

p = argparse.ArgumentParser()
p.add_argument("--ostler", required=True)
p.add_argument("--tmp", required=True)
p.add_argument("--runs", type=int, default=200)
p.add_argument("--runc-runs", type=int, default=200, help="runs of each init under runc (0: none)")
p.add_argument("--services", type=int, default=20)
a = p.parse_args()
WARM_UPS = 5
# Ctrl-C and SIGTERM end the bench through the finally blocks, so the runc containers are
# deleted on the way out.
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def program(name):
    path = name if "/" in name else shutil.which(name)
    if not path:
        raise SystemExit(f"bench/container: {name} is missing; run tools/setup")
    return os.path.abspath(path)


ostler = program(a.ostler)
tini, catatonit, dumb_init = program("tini-static"), program("catatonit"), program("dumb-init")
true = program("/bin/true")
empty = os.path.join(a.tmp, "none")
os.makedirs(empty)
env = dict(os.environ, OSTLER_DEFS=empty)
inits = {
    "ostler": [ostler, "init", "--container", "--"],
    "tini -s": [tini, "-s", "--"],
    "catatonit": [catatonit, "--"],
    "dumb-init": [dumb_init],
}


def alternating(names, runs, once):
    """once(name) for every name, runs + WARM_UPS rounds, the order turned by one each round so
    no name always follows the same other; the warm-ups dropped."""
    results = {name: [] for name in names}
    for round_ in range(runs + WARM_UPS):
        turn = round_ % len(names)
        for name in names[turn:] + names[:turn]:
            results[name].append(once(name))
    return {name: values[WARM_UPS:] for name, values in results.items()}


def table(times, base, extra=None):
    """Rows name | median | min | max | ratio to base's median (| extra(name))."""
    base_median = statistics.median(times[base])
    for name, t in times.items():
        cells = [name, f"{statistics.median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}", f"{statistics.median(t) / base_median:.2f}"]
        if extra:
            cells.append(extra(name))
        print("| " + " | ".join(cells) + " |")


def ratio(times, name, base):
    """The ratio of the medians, and its 95 % bootstrap interval (2000 resamples, fixed seed)."""
    rng = random.Random(1)
    x, y = times[name], times[base]
    resampled = sorted(statistics.median(rng.choices(x, k=len(x))) / statistics.median(rng.choices(y, k=len(y))) for _ in range(2000))
    return statistics.median(x) / statistics.median(y), resampled[50], resampled[1949]


def goal_line(what, found, base):
    value, low, high = found
    return f"- start to exit {what}: ostler **{value:.2f}×** {base} (95 % interval {low:.2f}–{high:.2f}; goal ≤ 1.0×: {verdict(value, 1.0)})"


def verdict(value, goal):
    return "met" if value <= goal else "NOT met"


# 1. Start to exit of `INIT -- /bin/true`, natively.
maxrss_native = []


def start_to_exit(name):
    argv = inits[name] + [true]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env)
    _, status, usage = os.wait4(pid, 0)
    took = (time.perf_counter() - start) * 1000
    assert os.waitstatus_to_exitcode(status) == 0, argv
    maxrss_native.append(usage.ru_maxrss)
    return took


with open("/proc/loadavg") as f:
    print(f"{os.cpu_count()} CPUs; load average at the start: {' '.join(f.read().split()[:3])}; ostler {os.path.getsize(ostler)} bytes\n")
native = alternating(list(inits), a.runs, start_to_exit)
print(f"### 1. `INIT -- /bin/true`, start to exit, natively ({a.runs} runs each, alternating, {WARM_UPS} warm-ups dropped)\n")
print("posix_spawn, wait4; timed by the bench.\n")
print("| init | median ms | min | max | ratio to tini (median) |")
print("| --- | ---: | ---: | ---: | ---: |")
table(native, "tini -s")
native_ratio = ratio(native, "ostler", "tini -s")

# The init's own peak memory for `INIT -- /bin/true`, natively (printed as section 3).
peaks = {}
for name, argv in inits.items():
    runs = []
    for _ in range(5):
        code, memory = peak(argv + [true], env)
        assert code == 0, argv
        runs.append(memory)
    peaks[name] = {field: statistics.median(m[field] for m in runs) for field in runs[0]}

# 2. The same under runc, with /bin/true alone as PID 1 for runc's own share.
runc_ratio = None
print(f"\n### 2. `INIT -- /bin/true` as the process of a runc container, spawn of `runc run` to its exit\n")
if a.runc_runs <= 0:
    print("skipped (--runc-runs 0)")
elif os.geteuid() != 0:
    print(f"skipped: runc needs root and this bench runs as uid {os.geteuid()}; run bench/container/run as root for it")
else:
    runc = Runc(program("runc"), os.path.join(a.tmp, "runc"))
    try:
        root = os.path.join(runc.tree, "rootfs")
        for directory in ("proc", "dev", "sys", "tmp"):
            os.makedirs(os.path.join(root, directory))
        copied = make_root(root, {
            "/bin/busybox": program("/bin/busybox"),
            "/bin/ostler": ostler,
            "/bin/tini-static": tini,
            "/bin/catatonit": catatonit,
            "/bin/dumb-init": dumb_init,
        })
        os.symlink("busybox", os.path.join(root, "bin", "true"))
        in_runc = {
            "ostler": ["/bin/ostler", "init", "--container", "--", "/bin/true"],
            "tini": ["/bin/tini-static", "--", "/bin/true"],
            "catatonit": ["/bin/catatonit", "--", "/bin/true"],
            "dumb-init": ["/bin/dumb-init", "/bin/true"],
            "none (/bin/true as PID 1)": ["/bin/true"],
        }
        bundles = {name: runc.bundle(f"b{i}", root, args) for i, (name, args) in enumerate(in_runc.items())}
        maxrss_runc = {name: [] for name in in_runc}

        def in_container(name):
            took, maxrss = runc.run(bundles[name])
            maxrss_runc[name].append(maxrss)
            return took

        under = alternating(list(in_runc), a.runc_runs, in_container)
        none = statistics.median(under["none (/bin/true as PID 1)"])
        with open(os.path.join(bundles["tini"], "config.json")) as f:
            config = json.load(f)
        namespaces = ", ".join(n["type"] for n in config["linux"]["namespaces"])
        version = subprocess.run([runc.runc, "--version"], capture_output=True, text=True).stdout.split()[2]
        print(f"runc {version}, `runc spec`'s config ({'read-only' if config['root'].get('readonly') else 'writable'} root; "
              f"{namespaces} namespaces), terminal off; root: busybox-static with /bin/true linked to it, and the four "
              f"inits. {a.runc_runs} runs each, alternating, {WARM_UPS} warm-ups dropped.")
        for inside, libs in copied.items():
            print(f"{inside} is dynamically linked: copied in {', '.join(libs)}.")
        print("\n| init | median ms | min | max | ratio to tini (median) | median − none |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        table(under, "tini", lambda name: f"{statistics.median(under[name]) - none:+.2f}")
        runc_ratio = ratio(under, "ostler", "tini")
        high = max(statistics.median(v) for v in maxrss_runc.values())
        low = min(statistics.median(v) for v in maxrss_runc.values())
        print(f"\nPeak memory under runc: no per-init figure. wait4's ru_maxrss of `runc run` is {low:.0f}{f'–{high:.0f}' if high != low else ''} KiB (medians) "
              "whatever the init, /bin/true alone included: the largest of this Python's own peak (which exec keeps, see "
              "section 3), runc's, its `runc init` child's and the container's processes'. The inits' own peaks (section 3, "
              f"at most {max(m['VmHWM'] for m in peaks.values()):.0f} KiB natively) cannot be told apart in it.")
    finally:
        runc.clean_up()
        left = subprocess.run([runc.runc, "--root", runc.state, "list", "-q"], capture_output=True, text=True).stdout.split()
        if left:
            print(f"bench/container: runc containers left after delete -f: {left}", file=sys.stderr)
        shutil.rmtree(runc.tree, ignore_errors=True)

print(f"\n### 3. The init's own peak memory, `INIT -- /bin/true`, natively (median of 5), KiB\n")
print("/proc/PID/status read when the init is stopped at its exit (ptrace): VmHWM, the peak resident set of the init "
      "alone; RssAnon and RssFile at that moment.\n")
print("| init | peak RSS (VmHWM) | anon at exit | file at exit | ratio to tini (peak) |")
print("| --- | ---: | ---: | ---: | ---: |")
for name, m in peaks.items():
    print(f"| {name} | {m['VmHWM']:.0f} | {m['RssAnon']:.0f} | {m['RssFile']:.0f} | {m['VmHWM'] / peaks['tini -s']['VmHWM']:.2f} |")
print(f"\nwait4's ru_maxrss of the same inits in section 1 was {min(maxrss_native)}{f'–{max(maxrss_native)}' if max(maxrss_native) != min(maxrss_native) else ''} KiB for every one: "
      f"the larger of this Python's peak when it spawned them (now {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB), "
      "which exec keeps in the child's max RSS, and /bin/true's; not the init's.")


def status_kib(pid):
    """Private_Clean + Private_Dirty (smaps_rollup), VmHWM and VmRSS (status), KiB."""
    private = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1])
    found = {"private": private}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                found[line.split(":")[0]] = int(line.split()[1])
    return found


def wait_for(what, check, deadline=20):
    end = time.time() + deadline
    while time.time() < end:
        if check():
            return
        time.sleep(0.01)
    raise SystemExit(f"bench/container: FAILED: {what}")


# 4. The init's private memory and peak RSS: ostler with N services against tini with none.
sv = os.path.join(a.tmp, "sv")
names = [f"s{i:02}" for i in range(a.services)]
for n in names:
    os.makedirs(os.path.join(sv, n))
    with open(os.path.join(sv, n, "type"), "w") as f:
        f.write("longrun\n")
    with open(os.path.join(sv, n, "run"), "w") as f:
        f.write("#!/bin/sh\nexec sleep 1000\n")
    os.chmod(os.path.join(sv, n, "run"), 0o755)
os.makedirs(os.path.join(sv, "default", "contents.d"))
with open(os.path.join(sv, "default", "type"), "w") as f:
    f.write("bundle\n")
for n in names:
    open(os.path.join(sv, "default", "contents.d", n), "w").close()
run_env = dict(os.environ, OSTLER_DEFS=sv, OSTLER_RUNDIR=os.path.join(a.tmp, "run"), OSTLER_SCANDIR=os.path.join(a.tmp, "scan"))
ready = os.path.join(a.tmp, "cmd-started")
cmd = ["/bin/sh", "-c", f": > {ready}; exec sleep 1000"]
stops = []
mem_ostler = []
for _ in range(5):
    if os.path.exists(ready):
        os.unlink(ready)
    proc = subprocess.Popen([ostler, "init", "--container", "--"] + cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("CMD did not start after the services", lambda: os.path.exists(ready))
    mem_ostler.append(status_kib(proc.pid))
    t = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    stops.append((time.perf_counter() - t) * 1000)
    assert code == 143, code
tini_proc = subprocess.Popen([tini, "-s", "--", "sleep", "1000"])
time.sleep(0.2)
mem_tini = status_kib(tini_proc.pid)
tini_proc.send_signal(signal.SIGTERM)
tini_proc.wait(timeout=10)
ostler_private = statistics.median(m["private"] for m in mem_ostler)
print(f"\n### 4. The init's memory with CMD running, KiB\n")
print("Private: smaps_rollup Private_Clean + Private_Dirty; peak RSS: VmHWM, current RSS: VmRSS (status). ostler: median of 5. "
      "Private counts the file pages only this process maps: tini-static's code is mapped by tini alone, ostler's is "
      "shared with its own scanner and supervisors (the same binary), hence the peak RSS beside it.\n")
print("| init | private | peak RSS | RSS |")
print("| --- | ---: | ---: | ---: |")
print(f"| ostler, {a.services} longruns up, CMD running | {ostler_private:.0f} | {statistics.median(m['VmHWM'] for m in mem_ostler):.0f} | {statistics.median(m['VmRSS'] for m in mem_ostler):.0f} |")
print(f"| tini -s, CMD running, no services | {mem_tini['private']} | {mem_tini['VmHWM']} | {mem_tini['VmRSS']} |")
print(f"\nratio of private memory, ostler ({a.services} services) / tini (none): **{ostler_private / mem_tini['private']:.2f}** (goal ≤ 2)")
print(f"\n### 5. SIGTERM → exit with {a.services} longruns (`exec sleep`, stop at once) and CMD `sleep` (5 runs), ms\n")
print(f"median {statistics.median(stops):.1f}, min {min(stops):.1f}, max {max(stops):.1f} (goal ≤ 100 + the services' own stop time)")

with open("/proc/loadavg") as f:
    print(f"\nload average at the end: {' '.join(f.read().split()[:3])}")
print("\n### Goals\n")
print(goal_line("natively", native_ratio, "tini -s"))
if runc_ratio is None:
    print("- start to exit under runc: not measured (see section 2)")
else:
    print(goal_line("under runc", runc_ratio, "tini"))
print(f"- private memory with {a.services} services: **{ostler_private / mem_tini['private']:.2f}×** tini's with none (goal ≤ 2: {verdict(ostler_private / mem_tini['private'], 2)})")
print(f"- stop after SIGTERM: **{statistics.median(stops):.1f} ms** (goal ≤ 100 ms: {verdict(statistics.median(stops), 100)})")
