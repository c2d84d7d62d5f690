#!/usr/bin/env python3
"""Boots the disk image two ways under OVMF, alternating, and times each boot.

Run by bench/boot/firmware, which builds the image. Per boot, from a fresh sparse copy of
disk.img:
  - direct: `qemu/boot --firmware uefi --initramfs boot.cpio.lz4 --append CMDLINE --extra-disk COPY`
    (OVMF loads -kernel, the UKI's initramfs and command line; the root is the copy's partition);
  - uki: `qemu/boot --image COPY` (OVMF starts \\EFI\\BOOT\\BOOTX64.EFI, the UKI, from the ESP).
Figures per boot: host seconds from just before QEMU is spawned to the serial line with "boot
complete" (the whole figure), ostler's own "boot complete in N ms" (guest clock, since the
kernel started), and their difference (QEMU start → the kernel's clock 0: firmware, loading,
the EFI stub; an upper bound, since the guest clock starts a little after the kernel is entered).
Then QEMU is killed by its PID (SIGKILL); nothing is sent to the guest. Every QEMU started here
is stopped by its PID when the run ends, also on SIGINT and SIGTERM.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

PATHS = ("direct", "uki")
LABEL = {"direct": "OVMF + direct kernel (-kernel/-initrd/-append)",
         "uki": "OVMF + UKI from the disk (--image)"}
BOOT_DEADLINE = 120   # s, QEMU start → "boot complete"
TARGET = 0.5          # s, issue 13: the UKI path adds at most this over direct OVMF

children = set()      # Popen objects still to reap or stop


def spawn(argv, **kwargs):
    process = subprocess.Popen(argv, **kwargs)
    children.add(process)
    return process


def stop(process):
    if process.poll() is None:
        try:
            process.kill()      # by PID: Popen.kill sends SIGKILL to process.pid (QEMU: qemu/boot execs it)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    children.discard(process)


def stop_all():
    for process in list(children):
        stop(process)


def on_signal(number, _frame):
    stop_all()
    sys.exit(128 + number)


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
        if comm.startswith(("qemu-system", "rustc", "cargo", "cc1", "ld", "mmdebstrap", "mke2fs")):
            names.append(comm)
    return sorted(set(names))


def one_boot(args, path, name, cmdline):
    """One measured boot; the figures, or raises RuntimeError."""
    disk = os.path.join(args.work, f"{name}.img")
    subprocess.run(["cp", "--sparse=always", os.path.join(args.image_dir, "disk.img"), disk], check=True)
    console = os.path.join(args.work, f"{name}.console")
    open(console, "w").close()
    common = ["--accel", args.accel, "--memory", str(args.memory), "--serial", f"file:{console}"]
    if path == "direct":
        argv = [args.qemu_boot, "--firmware", "uefi", "--initramfs", os.path.join(args.image_dir, "boot.cpio.lz4"),
                "--append", cmdline, "--extra-disk", disk] + common
    else:
        argv = [args.qemu_boot, "--image", disk] + common
    load = os.getloadavg()[0]
    busy = busy_processes()
    stderr = open(console + ".stderr", "w")
    t0 = time.monotonic()
    qemu = spawn(argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    try:
        seen = 0
        text = ""
        firmware_at = None
        while True:
            with open(console, "rb") as f:
                f.seek(seen)
                chunk = f.read()
            now = time.monotonic() - t0
            if chunk:
                seen += len(chunk)
                text += chunk.decode("utf-8", "replace")
                if firmware_at is None and "BdsDxe" in text:
                    firmware_at = now
                match = re.search(r"boot complete in (\d+) ms", text)
                if match:
                    host = now
                    break
            if qemu.poll() is not None:
                raise RuntimeError(f"QEMU ended ({qemu.returncode}) before 'boot complete'; "
                                   f"last console lines: {text.strip().splitlines()[-3:]}")
            if now > BOOT_DEADLINE:
                raise RuntimeError(f"no 'boot complete' within {BOOT_DEADLINE} s")
            time.sleep(0.005)
    finally:
        stop(qemu)
        stderr.close()
        if args.logs:
            for suffix in ("", ".stderr"):
                shutil.copy(console + suffix, os.path.join(args.logs, os.path.basename(console + suffix)))
        os.unlink(disk)
    guest = int(match.group(1)) / 1000
    return {"path": path, "boot": name, "host_s": host, "guest_s": guest, "before_kernel_s": host - guest,
            "bdsdxe_s": firmware_at, "load": load, "busy": busy}


def summary(values):
    return statistics.median(values), min(values), max(values)


def host_notes():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    try:
        ovmf = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "ovmf"], capture_output=True, text=True).stdout
    except OSError:
        ovmf = "?"
    kernels = sorted(f for f in os.listdir("/boot") if f.startswith("vmlinuz-"))
    return {"cpu": model, "cpus": os.cpu_count(), "os": platform.platform(), "qemu": qemu, "ovmf": ovmf or "?",
            "kernel": kernels[-1] if kernels else "?"}


def report(args, results, problems, loads_after):
    by = {p: [r for r in results if r["path"] == p] for p in PATHS}
    uki_bytes = os.path.getsize(os.path.join(args.image_dir, "ostler.efi"))
    notes = host_notes()
    lines = []
    lines.append(f"Command: `{args.command}`")
    lines.append("")
    lines.append(f"- image: {args.built}")
    if args.build_seconds is not None:
        lines.append(f"- `ostler image build --format disk`: **{args.build_seconds:.2f} s**")
    lines.append(f"- UKI (`ostler.efi`): **{uki_bytes:,} bytes** ({uki_bytes / 1048576:.1f} MiB); "
                 f"disk.img {os.path.getsize(os.path.join(args.image_dir, 'disk.img')):,} bytes (sparse)")
    lines.append(f"- host: {notes['cpus']} × {notes['cpu']}, {notes['os']}; {notes['qemu']}; ovmf {notes['ovmf']}; "
                 f"kernel {notes['kernel']}; accelerator {args.accel}, {args.memory} MiB, 1 CPU")
    loads = [r["load"] for r in results]
    if loads:
        lines.append(f"- host load average (1 min) before each boot: {min(loads):.2f}–{max(loads):.2f}, "
                     f"{loads_after:.2f} after; other heavy processes seen: "
                     f"{', '.join(sorted({b for r in results for b in r['busy']})) or 'none'}")
    lines.append(f"- {args.rounds} round{'s' if args.rounds != 1 else ''}, the order alternating; each boot killed by PID (SIGKILL) at 'boot complete'")
    lines.append("")
    lines.append("| boot path | QEMU start → `boot complete`, host s: median (min–max) | guest `boot complete in` (s) | QEMU start → kernel clock 0 (s) | first `BdsDxe` line (s) | boots |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    medians = {}
    for path in PATHS:
        rows = by[path]
        if not rows:
            lines.append(f"| {LABEL[path]} | – | – | – | – | 0 |")
            continue
        median, low, high = summary([r["host_s"] for r in rows])
        medians[path] = median
        bds = [r["bdsdxe_s"] for r in rows if r["bdsdxe_s"] is not None]
        lines.append(f"| {LABEL[path]} | **{median:.2f}** ({low:.2f}–{high:.2f}) "
                     f"| {summary([r['guest_s'] for r in rows])[0]:.2f} "
                     f"| {summary([r['before_kernel_s'] for r in rows])[0]:.2f} "
                     f"| {f'{summary(bds)[0]:.2f}' if bds else '–'} | {len(rows)} |")
    lines.append("")
    if len(medians) == 2:
        diff = medians["uki"] - medians["direct"]
        verdict = "met" if diff <= TARGET else "NOT met"
        lines.append(f"UKI − direct (medians): **{diff:+.2f} s**; ratio UKI / direct **{medians['uki'] / medians['direct']:.2f}**. "
                     f"Issue 13's target (the UKI path adds ≤ {TARGET} s over direct OVMF): **{verdict}**.")
    if problems:
        lines.append("")
        lines.append("PROBLEMS:")
        for problem in problems:
            lines.append(f"  - {problem}")
    text = "\n".join(lines) + "\n"
    print()
    print(text, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"boots": results, "problems": problems, "uki_bytes": uki_bytes,
                       "build_seconds": args.build_seconds, "host": notes}, f, indent=1)


def main():
    parser = argparse.ArgumentParser(prog="bench/boot/firmware")
    parser.add_argument("--work", required=True)
    parser.add_argument("--image-dir", required=True)
    parser.add_argument("--qemu-boot", required=True)
    parser.add_argument("--built", default="?")
    parser.add_argument("--build-seconds", type=float)
    parser.add_argument("--command", default="bench/boot/firmware")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the two boots (default 5)")
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--accel", default="tcg", choices=("tcg", "kvm"))
    parser.add_argument("--logs", help="keep the serial consoles in this directory")
    parser.add_argument("--markdown", help="also write the results (markdown) to this file")
    parser.add_argument("--json", help="write every boot's figures to this file")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    if args.logs:
        os.makedirs(args.logs, exist_ok=True)
    with open(os.path.join(args.image_dir, "cmdline")) as f:
        cmdline = f.read().strip()
    results, problems = [], []
    try:
        for round_ in range(args.rounds):
            order = PATHS if round_ % 2 == 0 else tuple(reversed(PATHS))
            for path in order:
                name = f"{path}-{round_ + 1}"
                try:
                    row = one_boot(args, path, name, cmdline)
                except RuntimeError as e:
                    problems.append(f"{name}: {e}")
                    print(f"  {name}: FAILED: {e}", flush=True)
                    continue
                results.append(row)
                bds = f", BdsDxe at {row['bdsdxe_s']:.2f} s" if row["bdsdxe_s"] is not None else ""
                print(f"  {path:<6} boot {round_ + 1}: boot complete at {row['host_s']:.2f} s host "
                      f"({row['guest_s']:.2f} s guest; kernel clock 0 at ≤ {row['before_kernel_s']:.2f} s{bds}), "
                      f"load {row['load']:.2f}{', busy: ' + ','.join(row['busy']) if row['busy'] else ''}", flush=True)
    finally:
        stop_all()
    report(args, results, problems, os.getloadavg()[0])
    return 1 if problems or not results else 0


if __name__ == "__main__":
    sys.exit(main())
