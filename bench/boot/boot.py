#!/usr/bin/env python3
"""Boot benchmark (issue 3): ostler vs classic s6 stage 1 vs runit vs busybox init.

Builds one initramfs per init system around the same busybox-static base and the same N
dummy services (svc.c), boots each under the same kernel with QEMU (TCG, one CPU, serial
console to a file) and measures, per boot:
  guest: the kernel's CLOCK_BOOTTIME (= /proc/uptime) when the last of the N services is up,
         as printed by that service (`ALL-UP <seconds> ...` on /dev/console);
  host:  wall time from just before QEMU is started to the moment that line is in the log.
Boots go round-robin over the systems (round 1: every system once, then round 2, ...) so
drift on the host hits all of them alike. Called by ./run, which sets the paths.
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = ["ostler", "s6", "runit", "busybox", "floor"]
TITLES = {
    "ostler": "ostler (stage 1 + scanner + stage 2)",
    "s6": "s6 classic stage 1 (sh + s6-svscan)",
    "runit": "runit (runit, runsvdir, runsv)",
    "busybox": "busybox init (inittab respawn)",
    "floor": "floor: C /init, fork+exec x N",
    "supervise-floor": "floor + s6's supervise/ state x N",
    "rc-floor": "supervise-floor + s6-rc's live dirs x N",
    "split-floor": "rc-floor in two processes",
    "busybox-ballast": "busybox init + unused ostler file",
}
PEERS = ["s6", "runit", "busybox"]
BUSYBOX_APPLETS = ["sh", "mount", "mkdir", "cp", "ln", "cat", "ls", "echo", "sleep", "ps"]

running = []  # QEMU processes alive, stopped by PID on exit or signal


def stop(proc):
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    if proc in running:
        running.remove(proc)


def on_signal(signum, _frame):
    for proc in list(running):
        stop(proc)
    sys.exit(128 + signum)


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def copy_with_libs(root, binaries):
    """Copies dynamically linked binaries ({path in the image: file on the host}) into root,
    with every library ldd names and the dynamic loader, at the paths ldd gives."""
    needed = dict(binaries)
    for binary in binaries.values():
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                needed[m.group(1)] = m.group(1)
    for path, source in sorted(needed.items()):
        dest = root + path
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.realpath(source), dest)
    return sorted(needed)


def base_root(work, system, busybox, svc, names):
    """The part every image shares: busybox-static and a few applet links, /bin/svc, the
    mount points, /dev/console and /dev/null (so the kernel gives /init a console)."""
    root = os.path.join(work, "root-" + system)
    for d in ["bin", "sbin", "etc", "proc", "sys", "dev", "run", "tmp", "root"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy2(busybox, os.path.join(root, "bin/busybox"))
    for applet in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", applet))
    shutil.copy2(svc, os.path.join(root, "bin/svc"))
    sh("mknod", "-m", "600", os.path.join(root, "dev/console"), "c", "5", "1")
    sh("mknod", "-m", "666", os.path.join(root, "dev/null"), "c", "1", "3")
    return root


def service_dirs(parent, names):
    """One s6/runit-style service directory per name: `run` is a symlink to /bin/svc."""
    for name in names:
        os.makedirs(os.path.join(parent, name), exist_ok=True)
        os.symlink("/bin/svc", os.path.join(parent, name, "run"))


MOUNTS = """mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 dev /dev
mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
"""


def build_ostler(root, names, a):
    shutil.copy2(a.ostler, os.path.join(root, "bin/ostler"))
    for link in ["init", "sbin/init", "sbin/poweroff"]:
        os.symlink("/bin/ostler", os.path.join(root, link))
    sv = os.path.join(root, "etc/ostler/sv")
    service_dirs(sv, names)
    for name in names:
        write(os.path.join(sv, name, "type"), "longrun\n")
        write(os.path.join(sv, "default/contents.d", name), "")
    write(os.path.join(sv, "default/type"), "bundle\n")


def build_s6(root, names, a):
    copy_with_libs(root, {"/usr/bin/s6-svscan": a.s6_svscan, "/usr/bin/s6-supervise": a.s6_supervise})
    service_dirs(os.path.join(root, "etc/s6/sv"), names)
    # The classic s6 stage 1 of a read-only root: mount, copy the scan directory to /run, exec.
    write(os.path.join(root, "init"),
          "#!/bin/sh\nexport PATH=/usr/bin:/bin:/sbin\n" + MOUNTS +
          "cp -a /etc/s6/sv /run/service\nexec s6-svscan /run/service\n", 0o755)
    os.symlink("/init", os.path.join(root, "sbin/init"))
    if a.shutdown:
        # The s6 scheme's stage 3, as s6-linux-init does it: the scanner is told to stop, its
        # finish kills what is left, waits the default grace (3 s), syncs, powers off.
        copy_with_libs(root, {"/usr/bin/s6-svscanctl": "/usr/bin/s6-svscanctl"})
        write(os.path.join(root, "sbin/poweroff"), "#!/bin/sh\nexec /usr/bin/s6-svscanctl -t /run/service\n", 0o755)
        write(os.path.join(root, "etc/s6/sv/.s6-svscan/finish"),
              "#!/bin/sh\nkill -TERM -1\nkill -CONT -1\nsleep 3\nsync\nkill -KILL -1\n"
              "umount -a -r 2>/dev/null\nexec busybox poweroff -f\n", 0o755)


def build_runit(root, names, a):
    copy_with_libs(root, {"/sbin/runit": a.runit, "/usr/bin/runsvdir": a.runsvdir, "/usr/bin/runsv": a.runsv})
    os.symlink("/sbin/runit", os.path.join(root, "init"))
    os.symlink("/sbin/runit", os.path.join(root, "sbin/init"))
    # runit's own layout: /etc/runit/1 (one-time tasks), /etc/runit/2 (runsvdir, for the
    # system's lifetime); runsvdir on /etc/service, whose supervise/ dirs land in the
    # (writable) initramfs root.
    write(os.path.join(root, "etc/runit/1"), "#!/bin/sh\nexport PATH=/usr/bin:/bin:/sbin\n" + MOUNTS, 0o755)
    write(os.path.join(root, "etc/runit/2"),
          "#!/bin/sh\nexport PATH=/usr/bin:/bin:/sbin\nexec runsvdir -P /etc/service\n", 0o755)
    write(os.path.join(root, "etc/runit/3"), "#!/bin/sh\n", 0o755)
    service_dirs(os.path.join(root, "etc/service"), names)


def build_busybox(root, names, a):
    os.symlink("/bin/busybox", os.path.join(root, "init"))
    os.symlink("/bin/busybox", os.path.join(root, "sbin/init"))
    write(os.path.join(root, "etc/init.d/rcS"), "#!/bin/sh\n" + MOUNTS, 0o755)
    lines = ["::sysinit:/etc/init.d/rcS"] + [f"::respawn:/bin/svc {n}" for n in names]
    write(os.path.join(root, "etc/inittab"), "\n".join(lines) + "\n")
    if a.shutdown:
        # busybox's own poweroff applet: it signals busybox init, which stops everything.
        os.symlink("/bin/busybox", os.path.join(root, "sbin/poweroff"))


def build_busybox_ballast(root, names, a):
    """Busybox init's image with an unused copy of the ostler binary: what unpacking ostler's
    bytes costs the kernel, apart from anything ostler does (not in the default set)."""
    build_busybox(root, names, a)
    shutil.copy2(a.ostler, os.path.join(root, "bin/ballast"))


def build_floor(root, names, a):
    sh("gcc", "-static", "-O2", "-s", f'-DBENCH_NAMES="{",".join(names)}"', "-o",
       os.path.join(root, "init"), os.path.join(HERE, "floor.c"))


def build_supervise_floor(root, names, a):
    sh("gcc", "-static", "-O2", "-s", "-DSUPERVISE_FLOOR", f'-DBENCH_NAMES="{",".join(names)}"', "-o",
       os.path.join(root, "init"), os.path.join(HERE, "floor.c"))


def build_rc_floor(root, names, a, split=False):
    for name in names:
        write(os.path.join(root, "etc/floor/sv", name, "type"), "longrun\n")
    flags = ["-DSUPERVISE_FLOOR", "-DRC_FLOOR"] + (["-DRC_SPLIT"] if split else [])
    sh("gcc", "-static", "-O2", "-s", *flags, f'-DBENCH_NAMES="{",".join(names)}"',
       "-o", os.path.join(root, "init"), os.path.join(HERE, "floor.c"))


def build_split_floor(root, names, a):
    build_rc_floor(root, names, a, split=True)


BUILDERS = {"ostler": build_ostler, "s6": build_s6, "runit": build_runit, "busybox": build_busybox,
            "floor": build_floor, "supervise-floor": build_supervise_floor, "rc-floor": build_rc_floor,
            "split-floor": build_split_floor,
            "busybox-ballast": build_busybox_ballast}


COMPRESSORS = {
    "gzip": ["gzip", "-n", "-6"],
    "zstd": ["zstd", "-q", "-19"],
    # The kernel reads lz4's legacy frame format only.
    "lz4": ["lz4", "-q", "-l", "-9"],
    "xz": ["xz", "-q", "--check=crc32", "-6"],
    "none": ["cat"],
}


def initramfs(root, out, compress="gzip"):
    """newc cpio, owned by root, sorted, then compressed: the same recipe for every image."""
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True, check=True).stdout
    listing = "\n".join(sorted(files.split())) + "\n"
    with open(out, "wb") as f:
        cpio = subprocess.Popen(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=root,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        gz = subprocess.Popen(COMPRESSORS[compress], stdin=cpio.stdout, stdout=f)
        cpio.stdout.close()
        cpio.stdin.write(listing.encode())
        cpio.stdin.close()
        if cpio.wait() or gz.wait():
            raise RuntimeError(f"cpio | {compress} failed for " + root)


INIT_START = re.compile(r"INIT-START (\d+\.\d+)\r?\n")
ALL_UP = re.compile(r"ALL-UP (\d+\.\d+) (\S+) (\S+)\r?\n")
BOOT_COMPLETE = re.compile(r"boot complete in (\d+) ms")


def boot(a, system, initrd, serial, boot_index):
    """One boot. Returns a dict with guest, host (seconds) or error, and the log text."""
    if os.path.exists(serial):
        os.unlink(serial)
    monitor = serial + ".monitor"
    argv = [a.qemu, "-accel", "tcg"] + (["-icount", f"shift={a.icount}"] if a.icount is not None else []) + [ "-smp", "1", "-m", "256", "-kernel", a.kernel, "-initrd", initrd,
            "-append", a.append, "-nographic", "-no-reboot", "-serial", "file:" + serial,
            "-monitor", f"unix:{monitor},server,nowait" if a.jit else "none", "-display", "none", "-nic", "none"]
    log = b""
    result = {"system": system, "boot": boot_index}
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    running.append(proc)
    deadline = started + a.timeout
    try:
        while True:
            now = time.monotonic()
            try:
                with open(serial, "rb") as f:
                    log = f.read()
            except FileNotFoundError:
                log = b""
            text = log.decode("utf-8", "replace")
            m = ALL_UP.search(text)
            if m and "host" not in result:
                result["host"] = now - started
                result["guest"] = float(m.group(1))
                result["proc_uptime"] = m.group(2)
                result["last"] = m.group(3)
                if a.jit:
                    result["tb_count"] = translated_blocks(monitor)
                if a.shutdown:
                    deadline = min(deadline, now + 60)
                    continue
                if system != "ostler" and not a.trace:
                    break
                # ostler also says when its stage 2 thinks the boot is complete: wait a little
                # for that line (not part of the figures).
                deadline = min(deadline, now + (120 if a.trace else a.grace))
            if a.trace:
                if "TRACE-END" in text:
                    break
            elif "host" in result and BOOT_COMPLETE.search(text) and not a.shutdown:
                break
            if "SVC-ERROR" in text:
                result["error"] = "a service failed: " + text[text.index("SVC-ERROR"):].splitlines()[0]
                break
            if proc.poll() is not None:
                if a.shutdown and "host" in result:
                    result["poweroff"] = now - started - result["host"]
                if "host" not in result:
                    result["error"] = f"QEMU exited ({proc.returncode}) before all services were up: " + \
                        proc.stderr.read().decode(errors="replace").strip()[-300:]
                break
            if now > deadline:
                if "host" not in result:
                    result["error"] = f"no ALL-UP line after {a.timeout:.0f} s"
                elif a.shutdown:
                    result["error"] = "QEMU still running 60 s after poweroff"
                break
            time.sleep(0.005)
    finally:
        stop(proc)
    text = log.decode("utf-8", "replace")
    m = INIT_START.search(text)
    if m:
        result["init_start"] = float(m.group(1))
    m = BOOT_COMPLETE.search(text)
    if m:
        result["boot_complete_ms"] = int(m.group(1))
    if system == "ostler" and "host" in result and re.search(r"ostler: .*fail", text):
        result["warning"] = "ostler printed a failure: " + re.search(r"ostler: .*fail.*", text).group(0)
    if "host" in result and result.get("proc_uptime") == "none":
        result["error"] = "/proc was not mounted when the services started"
    result["log"] = text
    return result


def translated_blocks(monitor):
    """QEMU's count of translated blocks so far (`info jit`): how much distinct guest code, the
    kernel's and the init's, ran at least once; TCG translates each block once."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(monitor)
        s.settimeout(5)
        text = b""
        for command in (None, b"info jit\n"):
            if command:
                s.sendall(command)
            while not text.rstrip().endswith(b"(qemu)"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                text += chunk
            if command is None:
                text = b""
    m = re.search(rb"TB count\s+(\d+)", text)
    return int(m.group(1)) if m else None


BUSY = ("qemu-system-x86", "rustc", "cargo", "cc1", "ld", "python3")


def others_busy():
    """Names of host processes (not ours) that compete for the CPU: other QEMUs, compilers."""
    mine = {os.getpid()} | {p.pid for p in running}
    seen = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if comm in BUSY and state == "R":
            seen.add(comm)
    return seen


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--boots", type=int, default=10, help="boots per system (default 10)")
    p.add_argument("--services", type=int, default=20, help="dummy services (default 20)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS))
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per boot before giving up (default 60)")
    p.add_argument("--grace", type=float, default=5.0, help="seconds to wait after ALL-UP for ostler's own line")
    p.add_argument("--append", default="console=ttyS0 panic=-1 quiet", help="kernel command line")
    p.add_argument("--icount", type=int, help="also pass -icount shift=N: guest time from the instruction count "
                   "(deterministic, independent of host load; not the default)")
    p.add_argument("--compress", default="gzip", choices=sorted(COMPRESSORS),
                   help="how every image is compressed (default gzip; the kernel must support it)")
    p.add_argument("--json", help="write every boot's figures to this file")
    p.add_argument("--logs", help="keep every serial log in this directory")
    p.add_argument("--mark-init", action="store_true",
                   help="put a shim in front of every /init that prints INIT-START <uptime>: adds the column "
                        "'/init to all-up' (one extra small exec per boot, the same in every image)")
    p.add_argument("--initmark", help="the shim (compiled by ./run)")
    p.add_argument("--trace", action="store_true",
                   help="implies --mark-init, with a shim that also traces the kernel (initmark.c built with -DBENCH_TRACE): after the "
                        "table, where each image's last boot spent its time (trace_report.py). Slower; use with --icount 0")
    p.add_argument("--tracemark", help="the tracing shim (compiled by ./run)")
    p.add_argument("--jit", action="store_true",
                   help="at ALL-UP, ask QEMU's monitor how many blocks of guest code it has translated (info jit): "
                        "TCG translates each once, so the count is how much distinct code the boot ran")
    p.add_argument("--work", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--ostler", required=True)
    p.add_argument("--busybox", required=True)
    p.add_argument("--svc", required=True)
    p.add_argument("--svc-poweroff", dest="svc_poweroff", help="the dummy service that powers off at all-up")
    p.add_argument("--shutdown", action="store_true",
                   help="also measure the shutdown: the last service up runs /sbin/poweroff, and the figure is the "
                        "host wall time from its ALL-UP line to QEMU's exit (systems: ostler, s6, busybox)")
    p.add_argument("--runit", required=True)
    p.add_argument("--runsvdir", required=True)
    p.add_argument("--runsv", required=True)
    p.add_argument("--s6-svscan", dest="s6_svscan", default="/usr/bin/s6-svscan")
    p.add_argument("--s6-supervise", dest="s6_supervise", default="/usr/bin/s6-supervise")
    a = p.parse_args()
    a.mark_init = a.mark_init or a.trace
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    systems = [s for s in a.systems.split(",") if s]
    for s in systems:
        if s not in BUILDERS:
            p.error(f"unknown system {s}")
    names = [f"sv{i:02d}" for i in range(1, a.services + 1)]

    images = {}
    for s in systems:
        root = base_root(a.work, s, a.busybox, a.svc_poweroff if a.shutdown else a.svc, names)
        BUILDERS[s](root, names, a)
        if a.mark_init:
            os.rename(os.path.join(root, "init"), os.path.join(root, "init.real"))
            shutil.copy2(a.tracemark if a.trace else a.initmark, os.path.join(root, "init"))
        images[s] = os.path.join(a.work, s + ".cpio." + a.compress)
        initramfs(root, images[s], a.compress)
    print(f"kernel {a.kernel}, cmdline '{a.append}', qemu -accel tcg -smp 1 -m 256, "
          f"{a.services} services, {a.boots} boots each", flush=True)
    print(f"initramfs compression: {a.compress}", flush=True)
    print("initramfs sizes: " + ", ".join(f"{s} {os.path.getsize(images[s]) / 1e6:.2f} MB" for s in systems),
          flush=True)

    results = {s: [] for s in systems}
    contention = {}
    load_before = open("/proc/loadavg").read().split()[:3]
    problems = []
    if a.logs:
        os.makedirs(a.logs, exist_ok=True)
    for i in range(1, a.boots + 1):
        line = []
        for s in systems:
            serial = os.path.join(a.work, f"serial-{s}.log")
            busy = others_busy()
            r = boot(a, s, images[s], serial, i)
            busy |= others_busy()
            for comm in busy:
                contention[comm] = contention.get(comm, 0) + 1
            if a.logs:
                shutil.copy(serial, os.path.join(a.logs, f"{s}-{i:02d}.log")) if os.path.exists(serial) else None
            results[s].append(r)
            if "error" in r:
                excerpt = "\n      ".join(r["log"].strip().splitlines()[-15:])
                problems.append(f"{s} boot {i}: {r['error']}\n    serial log (end):\n      {excerpt}")
                line.append(f"{s} FAILED")
            else:
                if "warning" in r:
                    problems.append(f"{s} boot {i}: {r['warning']}")
                line.append(f"{s} {r['guest']:.3f}/{r['host']:.2f}")
        print(f"round {i:2d}/{a.boots} (guest s / host s): " + "  ".join(line), flush=True)

    print()
    header = f"{'system':38} {'guest uptime at all-up (s)':>26}  {'host wall to all-up (s)':>24}  {'above floor':>11}"
    if a.mark_init:
        header += f"  {'/init to all-up':>15}"
    print(header)
    sub = f"{'':38} {'median    min    max':>26}  {'median    min    max':>24}  {'guest med.':>11}"
    if a.mark_init:
        sub += f"  {'med. (min-max)':>15}"
    print(sub)
    print("-" * len(header))
    med = {}
    ok_boots = {s: [r for r in results[s] if "error" not in r] for s in systems}
    for s in systems:
        if ok_boots[s]:
            med[s] = (statistics.median(r["guest"] for r in ok_boots[s]),
                      statistics.median(r["host"] for r in ok_boots[s]))
    for s in systems:
        ok = ok_boots[s]
        if not ok:
            print(f"{TITLES[s]:38} {'no successful boot':>26}")
            continue
        g = summary([r["guest"] for r in ok])
        h = summary([r["host"] for r in ok])
        floor = f"{g[0] - med['floor'][0]:+11.3f}" if "floor" in med and s != "floor" else f"{'':11}"
        row = f"{TITLES[s]:38} {g[0]:8.3f} {g[1]:6.3f} {g[2]:6.3f}  {h[0]:8.3f} {h[1]:6.3f} {h[2]:6.3f}  {floor}"
        marked = [r["guest"] - r["init_start"] for r in ok if "init_start" in r]
        if a.mark_init and marked:
            m = summary(marked)
            row += f"  {m[0]:5.3f} ({m[1]:.2f}-{m[2]:.2f})"
        if len(ok) != len(results[s]):
            row += f"  ({len(ok)}/{len(results[s])} boots ok)"
        print(row)
    starts = [r["init_start"] for s in systems for r in ok_boots[s] if "init_start" in r]
    if starts:
        print(f"\nkernel start to /init (INIT-START, all systems): median {statistics.median(starts):.3f} s "
              f"(min {min(starts):.3f}, max {max(starts):.3f})")
    if a.jit:
        print("\ntranslated blocks at ALL-UP (QEMU's info jit, the whole boot: firmware, kernel, init), median:")
        for s in systems:
            counts = [r["tb_count"] for r in ok_boots[s] if r.get("tb_count")]
            if counts:
                print(f"  {TITLES[s]:38} {statistics.median(counts):9.0f}")
    own = [r["boot_complete_ms"] for r in results.get("ostler", []) if "boot_complete_ms" in r]
    if own:
        print(f"\nostler's own 'boot complete in N ms': median {statistics.median(own):.0f} ms "
              f"(min {min(own)}, max {max(own)})")
    if "ostler" in med:
        print("\nratios ostler / peer (medians; below 1 = ostler is faster):")
        def from_init(system):
            marked = [r["guest"] - r["init_start"] for r in ok_boots[system] if "init_start" in r]
            return statistics.median(marked) if marked else None
        for s in PEERS + ["floor", "supervise-floor", "rc-floor", "split-floor"]:
            if s in med:
                line = f"  vs {s:8} guest {med['ostler'][0] / med[s][0]:5.2f}   host {med['ostler'][1] / med[s][1]:5.2f}"
                mine, theirs = from_init("ostler"), from_init(s)
                if mine and theirs:
                    goal = "  (issue 15: <= 1.3)" if s == "busybox" else ""
                    line += f"   /init to all-up {mine / theirs:5.2f}{goal}"
                print(line)
    if a.shutdown:
        print("\nshutdown: host wall time from ALL-UP (the last service runs /sbin/poweroff) to QEMU's exit")
        down = {s: [r["poweroff"] for r in ok_boots[s] if "poweroff" in r] for s in systems}
        for s in systems:
            if down[s]:
                d = summary(down[s])
                print(f"  {TITLES[s]:38} median {d[0]:6.3f} s  (min {d[1]:.3f}, max {d[2]:.3f})")
        if down.get("ostler"):
            for s in PEERS:
                if down.get(s):
                    print(f"  ratio ostler / {s}: {statistics.median(down['ostler']) / statistics.median(down[s]):.2f}")
    print(f"\nhost load average before / after: {' '.join(load_before)} / "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])} ({os.cpu_count()} CPUs)")
    if contention:
        print("other processes running on the host during some boots (figures less reliable): " +
              ", ".join(f"{c} in {n} boots" for c, n in sorted(contention.items())))
    if a.trace:
        import trace_report
        for s in systems:
            if results[s]:
                print(f"\nwhere {s}'s last boot went (kernel trace):")
                print(trace_report.summarise(results[s][-1]["log"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({s: [{k: v for k, v in r.items() if k != "log"} for r in results[s]] for s in systems}, f,
                      indent=1)
    if problems:
        print("\nPROBLEMS:")
        for problem in problems:
            print("  " + problem)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
