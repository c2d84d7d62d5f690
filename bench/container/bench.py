"""ostler init --container against tini, catatonit and dumb-init: start-to-exit, the init's
memory, and the stop after SIGTERM with 20 services. See README.md."""
import argparse, os, signal, statistics, subprocess, time

p = argparse.ArgumentParser()
p.add_argument("--ostler", required=True)
p.add_argument("--tmp", required=True)
p.add_argument("--runs", type=int, default=200)
p.add_argument("--services", type=int, default=20)
a = p.parse_args()

empty = os.path.join(a.tmp, "none")
os.makedirs(empty)
env = dict(os.environ, OSTLER_DEFS=empty)
inits = {
    "ostler": [a.ostler, "init", "--container", "--"],
    "tini -s": ["tini-static", "-s", "--"],
    "catatonit": ["catatonit", "--"],
    "dumb-init": ["dumb-init"],
}


def start_to_exit(argv):
    t = time.perf_counter()
    pid = os.spawnve(os.P_NOWAIT, argv[0] if os.path.isabs(argv[0]) else subprocess.getoutput(f"command -v {argv[0]}"), argv, env)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, argv
    return (time.perf_counter() - t) * 1000


# 1. Start to exit of `INIT -- /bin/true`, the four alternating.
times = {k: [] for k in inits}
for _ in range(a.runs + 5):
    for name, argv in inits.items():
        times[name].append(start_to_exit(argv + ["/bin/true"]))
print(f"### 1. `INIT -- /bin/true`, start to exit ({a.runs} runs each, alternating, 5 warm-ups dropped)\n")
print("| init | median ms | min | max | ratio to tini (median) |")
print("| --- | ---: | ---: | ---: | ---: |")
base = statistics.median(times["tini -s"][5:])
for name in inits:
    t = times[name][5:]
    print(f"| {name} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} | {statistics.median(t) / base:.2f} |")


def private_kib(pid):
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def wait_for(what, check, deadline=20):
    end = time.time() + deadline
    while time.time() < end:
        if check():
            return
        time.sleep(0.01)
    raise SystemExit(f"bench/container: FAILED: {what}")


# 2. The init's private memory: ostler with N services against tini with none.
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
    proc = subprocess.Popen([a.ostler, "init", "--container", "--"] + cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("CMD did not start after the services", lambda: os.path.exists(ready))
    mem_ostler.append(private_kib(proc.pid))
    t = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    stops.append((time.perf_counter() - t) * 1000)
    assert code == 143, code
tini = subprocess.Popen(["tini-static", "-s", "--", "sleep", "1000"])
time.sleep(0.2)
mem_tini = private_kib(tini.pid)
tini.send_signal(signal.SIGTERM)
tini.wait(timeout=10)
print(f"\n### 2. The init's private memory (smaps_rollup Private_*), KiB\n")
print("| init | private KiB |")
print("| --- | ---: |")
print(f"| ostler, {a.services} longruns up, CMD running (median of 5) | {statistics.median(mem_ostler):.0f} |")
print(f"| tini -s, CMD running, no services | {mem_tini} |")
print(f"\nratio ostler ({a.services} services) / tini (none): **{statistics.median(mem_ostler) / mem_tini:.2f}** (goal ≤ 2)")
print(f"\n### 3. SIGTERM → exit with {a.services} longruns (`exec sleep`, stop at once) and CMD `sleep` (5 runs), ms\n")
print(f"median {statistics.median(stops):.1f}, min {min(stops):.1f}, max {max(stops):.1f} (goal ≤ 100 + the services' own stop time)")
