#!/usr/bin/env python3
"""Boots the Debian disk with ostler and with systemd as PID 1, alternating, and times each boot.

Run by bench/boot/debian, which builds the two disks. Per boot, from a fresh copy of the disk:
  - nginx: host wall time from just before QEMU is spawned until `curl http://127.0.0.1:PORT/`
    (forwarded to the guest's port 80) gets HTTP 200; a new curl is started every 50 ms;
  - all up, guest clock: ostler's console line `boot complete in N ms` (N since the kernel
    started); systemd's `systemd-analyze` "Startup finished in … = T" (T since the kernel
    started, read over ssh once `systemctl is-system-running --wait` returns);
  - poweroff: an ssh session is opened first (`echo READY; read line; exec poweroff`), then a
    newline is written to it; host wall time from that write to QEMU's exit.
Every QEMU, ssh and curl started here is stopped by its PID when the run ends, also on SIGINT
and SIGTERM.
"""

import argparse
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

SYSTEMS = ("ostler", "systemd")
LABEL = {"ostler": "ostler (PID 1) + skel-debian services", "systemd": "systemd 252 (systemd-sysv)"}
POLL_EVERY = 0.050       # a new curl every 50 ms
CURL_TIMEOUT = "3"       # seconds, per curl
BOOT_DEADLINE = 300      # s, QEMU start → nginx and all up
POWEROFF_DEADLINE = 180  # s, poweroff → QEMU exit

children = set()         # Popen objects still to reap or stop


def spawn(argv, **kwargs):
    process = subprocess.Popen(argv, **kwargs)
    children.add(process)
    return process


def stop_all():
    for process in list(children):
        if process.poll() is None:
            try:
                process.kill()      # by PID: Popen.kill sends SIGKILL to process.pid
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        children.discard(process)


def on_signal(number, _frame):
    stop_all()
    sys.exit(128 + number)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def busy_processes():
    """Other heavy processes on the host right now (names), to explain noise."""
    names = []
    mine = {p.pid for p in children}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith(("qemu-system", "rustc", "cargo", "cc1", "ld", "mmdebstrap")):
            names.append(comm)
    return sorted(set(names))


class Boot:
    def __init__(self, args, system, disk, name):
        self.args, self.system, self.disk, self.name = args, system, disk, name
        self.console = os.path.join(args.work, f"{name}.console")
        self.ssh_port, self.http_port = free_port(), free_port()
        self.qemu = None
        self.console_seen = 0    # bytes of the console already read
        self.kernel_offset = None  # host s from QEMU's start to the kernel's clock 0 (an upper bound)

    def ssh(self, command, **kwargs):
        return [
            "ssh", "-i", self.args.key, "-p", str(self.ssh_port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
            "root@127.0.0.1", command,
        ]

    def run_ssh(self, command, timeout=120):
        process = spawn(self.ssh(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        children.discard(process)
        return process.returncode, out

    def start(self):
        open(self.console, "w").close()
        argv = [
            self.args.qemu_boot, "--accel", "tcg", "--kernel", self.args.kernel,
            "--disk", self.disk, "--initramfs", self.args.initramfs, "--append", "ro",
            "--memory", str(self.args.memory), "--cpus", str(self.args.cpus),
            "--forward", f"{self.ssh_port}:22", "--forward", f"{self.http_port}:80",
            "--serial", f"file:{self.console}",
        ]
        self.t0 = time.monotonic()
        # qemu/boot execs QEMU: this PID is QEMU's.
        self.qemu = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=open(self.console + ".stderr", "w"))

    def read_console(self):
        with open(self.console, "rb") as f:
            return f.read().decode(errors="replace")

    def scan_console(self):
        """Host time of QEMU start → the guest kernel's time 0: for each new console line
        `[   T.TTTTTT] …`, (host seconds since QEMU's start when seen) − T; the least of these."""
        now = time.monotonic() - self.t0
        with open(self.console, "rb") as f:
            f.seek(self.console_seen)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.console_seen += end
        for match in re.finditer(rb"^\[\s*(\d+\.\d+)\]", data[:end], re.M):
            offset = now - float(match.group(1))
            if self.kernel_offset is None or offset < self.kernel_offset:
                self.kernel_offset = offset

    def wait_nginx(self):
        """Host seconds from QEMU's start to the first HTTP 200."""
        url = f"http://127.0.0.1:{self.http_port}/"
        pending = []
        next_start = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if now - self.t0 > BOOT_DEADLINE:
                    raise RuntimeError(f"nginx did not answer within {BOOT_DEADLINE} s")
                if self.qemu.poll() is not None:
                    raise RuntimeError(f"QEMU exited ({self.qemu.returncode}) before nginx answered")
                if now >= next_start:
                    pending.append(spawn(["curl", "-s", "-o", "/dev/null", "-m", CURL_TIMEOUT,
                                          "-w", "%{http_code}", url],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
                    next_start += POLL_EVERY
                self.scan_console()
                for curl in list(pending):
                    if curl.poll() is not None:
                        pending.remove(curl)
                        children.discard(curl)
                        if curl.stdout.read().strip() == "200":
                            return time.monotonic() - self.t0
                time.sleep(0.005)
        finally:
            for curl in pending:
                curl.kill()
                curl.wait()
                children.discard(curl)

    def wait_all_up(self):
        """Guest seconds since the kernel started when every service was up, and the raw line."""
        deadline = self.t0 + BOOT_DEADLINE
        if self.system == "ostler":
            while time.monotonic() < deadline:
                match = re.search(r"boot complete in (\d+) ms[^\r\n]*", self.read_console())
                if match:
                    return int(match.group(1)) / 1000, match.group(0)
                if self.qemu.poll() is not None:
                    break
                time.sleep(0.05)
            raise RuntimeError("no 'boot complete' line on the console")
        while time.monotonic() < deadline:
            code, out = self.run_ssh("systemctl is-system-running --wait; systemd-analyze")
            match = re.search(r"Startup finished in .*= ([^\n]+)", out)
            if match:
                return parse_systemd_time(match.group(1)), match.group(0)
            time.sleep(1)
        raise RuntimeError(f"systemd-analyze never said 'Startup finished': {out}")

    def poweroff(self):
        """Host seconds from writing the line that runs `poweroff` to QEMU's exit."""
        session = spawn(self.ssh("echo READY; read line; exec poweroff"), stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ready = session.stdout.readline()
        if b"READY" not in ready:
            raise RuntimeError("the ssh session for poweroff did not open")
        sent = time.monotonic()
        session.stdin.write(b"\n")
        session.stdin.flush()
        while self.qemu.poll() is None:
            if time.monotonic() - sent > POWEROFF_DEADLINE:
                raise RuntimeError(f"QEMU still running {POWEROFF_DEADLINE} s after poweroff")
            time.sleep(0.005)
        took = time.monotonic() - sent
        children.discard(self.qemu)
        session.kill()
        session.wait()
        children.discard(session)
        return took, self.qemu.returncode

    def stop(self):
        if self.qemu is not None and self.qemu.poll() is None:
            self.qemu.kill()
            self.qemu.wait()
        children.discard(self.qemu)


def parse_systemd_time(text):
    """'16.737s', '1min 2.345s', '850ms' → seconds."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(min|ms|s|us)", text):
        total += float(number) * {"min": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


def one_boot(args, system, golden, name, extras):
    """One measured boot from a fresh copy of `golden`; the figures, or raises."""
    disk = os.path.join(args.work, f"{system}.run.ext4")
    subprocess.run(["cp", "--sparse=always", golden, disk], check=True)
    boot = Boot(args, system, disk, name)
    load = os.getloadavg()[0]
    busy = busy_processes()
    boot.start()
    try:
        nginx = boot.wait_nginx()
        up, line = boot.wait_all_up()
        info = {}
        code, out = boot.run_ssh("ps -e --no-headers | wc -l; free -m | awk '/^Mem:/ {print $3}'")
        numbers = out.split()
        if code == 0 and len(numbers) >= 2:
            info = {"processes": int(numbers[0]), "used_mib": int(numbers[1])}
        if extras is not None:
            commands = {
                "ostler": {"plot": "ostler analyze plot", "blame": "ostler analyze blame",
                           "critical-chain": "ostler analyze critical-chain",
                           "critical-chain-nginx": "ostler analyze critical-chain nginx",
                           "timeline": "cat /run/ostler/timeline"},
                "systemd": {"blame": "systemd-analyze blame",
                            "critical-chain": "systemd-analyze critical-chain",
                            "critical-chain-nginx": "systemd-analyze critical-chain nginx.service"},
            }[system]
            for key, command in commands.items():
                extras[key] = boot.run_ssh(command)[1]
        off, status = boot.poweroff()
        return {"system": system, "boot": name, "nginx_s": nginx, "kernel_offset_s": boot.kernel_offset,
                "nginx_guest_s": nginx - boot.kernel_offset if boot.kernel_offset is not None else float("nan"), "all_up_guest_s": up, "all_up_line": line,
                "poweroff_s": off, "qemu_status": status, "load": load, "busy": busy, **info}
    finally:
        boot.stop()
        if args.logs:
            for suffix in ("", ".stderr"):
                if os.path.exists(boot.console + suffix):
                    shutil.copy(boot.console + suffix, os.path.join(args.logs, os.path.basename(boot.console + suffix)))
        os.unlink(disk)


def warm_up(args, system, golden):
    """The unmeasured first boot, on the golden disk itself: ssh host keys (ostler), machine-id
    (systemd), first-boot work done once."""
    boot = Boot(args, system, golden, f"{system}-warm-up")
    boot.start()
    try:
        nginx = boot.wait_nginx()
        boot.wait_all_up()
        off, status = boot.poweroff()
        print(f"  warm-up {system}: nginx at +{nginx:.1f} s, poweroff {off:.1f} s, QEMU status {status}", flush=True)
        if status != 0:
            raise RuntimeError(f"QEMU ended with {status}")
    finally:
        boot.stop()
        if args.logs:
            shutil.copy(boot.console, args.logs)


def summary(values):
    return statistics.median(values), min(values), max(values)


def report(results, problems):
    print()
    by = {s: [r for r in results if r["system"] == s] for s in SYSTEMS}
    figures = [("nginx answers, host s from QEMU start", "nginx_s"),
               ("QEMU start → guest kernel's clock 0, host s", "kernel_offset_s"),
               ("nginx answers, guest clock (row 1 − row 2)", "nginx_guest_s"),
               ("all services up, guest s since kernel start", "all_up_guest_s"),
               ("poweroff → QEMU exit, host s", "poweroff_s")]
    print(f"{'measure':<46} {'ostler med (min–max)':>24} {'systemd med (min–max)':>24} {'ratio':>6}")
    print("-" * 104)
    for label, key in figures:
        cells, medians = [], {}
        for system in SYSTEMS:
            values = [r[key] for r in by[system]]
            if values:
                median, low, high = summary(values)
                medians[system] = median
                cells.append(f"{median:.2f} ({low:.2f}–{high:.2f})")
            else:
                cells.append("–")
        ratio = f"{medians['ostler'] / medians['systemd']:.2f}" if len(medians) == 2 else "–"
        print(f"{label:<46} {cells[0]:>24} {cells[1]:>24} {ratio:>6}")
    for system in SYSTEMS:
        rows = by[system]
        if rows and "processes" in rows[0]:
            print(f"{system}: {len(rows)} boots; processes {summary([r['processes'] for r in rows if 'processes' in r])[0]:.0f}, "
                  f"used memory {summary([r['used_mib'] for r in rows if 'used_mib' in r])[0]:.0f} MiB (medians, after all up)")
    loads = [r["load"] for r in results]
    if loads:
        print(f"host load average (1 min) before the boots: {min(loads):.2f}–{max(loads):.2f}; "
              f"other heavy processes seen: {sorted({b for r in results for b in r['busy']}) or 'none'}")
    if problems:
        print("PROBLEMS:")
        for problem in problems:
            print(f"  {problem}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--qemu-boot", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ostler-disk", required=True)
    parser.add_argument("--systemd-disk", required=True)
    parser.add_argument("--initramfs", required=True)
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--logs", help="keep the serial logs and analyze outputs in this directory")
    parser.add_argument("--json", help="write every boot's figures to this file")
    parser.add_argument("--chart", help="write `ostler analyze plot` of the first ostler boot here (SVG)")
    parser.add_argument("--deadline", help="stop starting boots after this many seconds", type=float)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    if args.logs:
        os.makedirs(args.logs, exist_ok=True)
    golden = {"ostler": args.ostler_disk, "systemd": args.systemd_disk}
    started = time.monotonic()
    results, problems, extras = [], [], {}
    try:
        print("warm-up boots (unmeasured; the disks are then copied for every boot):", flush=True)
        for system in SYSTEMS:
            warm_up(args, system, golden[system])
        for round_ in range(args.boots):
            order = SYSTEMS if round_ % 2 == 0 else tuple(reversed(SYSTEMS))
            for system in order:
                if args.deadline and time.monotonic() - started > args.deadline:
                    problems.append(f"stopped by --deadline after round {round_}")
                    raise StopIteration
                want = {} if system not in extras else None
                try:
                    row = one_boot(args, system, golden[system], f"{system}-{round_ + 1}", want)
                except RuntimeError as e:
                    problems.append(f"{system} boot {round_ + 1}: {e}")
                    print(f"  {system} boot {round_ + 1}: FAILED: {e}", flush=True)
                    continue
                if want is not None:
                    extras[system] = want
                results.append(row)
                print(f"  {system:<8} boot {round_ + 1}: nginx +{row['nginx_s']:.2f} s, all up {row['all_up_guest_s']:.2f} s guest, "
                      f"(kernel 0 at +{row['kernel_offset_s']:.2f} s), poweroff {row['poweroff_s']:.2f} s (QEMU {row['qemu_status']}), load {row['load']:.2f}"
                      f"{', busy: ' + ','.join(row['busy']) if row['busy'] else ''}", flush=True)
    except StopIteration:
        pass
    finally:
        stop_all()
    report(results, problems)
    for system, outputs in extras.items():
        for key, text in outputs.items():
            if key == "plot":
                continue
            print(f"\n--- {system}: {key} (first measured boot) ---\n{text.rstrip()}")
            if args.logs:
                with open(os.path.join(args.logs, f"{system}-{key}.txt"), "w") as f:
                    f.write(text)
    plot = extras.get("ostler", {}).get("plot")
    if plot:
        for path in filter(None, [args.chart, args.logs and os.path.join(args.logs, "ostler-plot.svg")]):
            with open(path, "w") as f:
                f.write(plot)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"boots": results, "problems": problems,
                       "extras": {s: {k: v for k, v in e.items()} for s, e in extras.items()}}, f, indent=1)
    return 1 if problems or not results else 0


if __name__ == "__main__":
    sys.exit(main())
