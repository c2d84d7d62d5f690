#!/usr/bin/env python3
"""ostler log vs s6-log: throughput and CPU time per gigabyte, side by side.

Each run pipes the same input file through `cat` into the logger (a pipe, as a supervisor
gives it) and measures the logger alone: wall time from its start to its exit at the end of
the input, and its user + system CPU time (wait4 rusage). The loggers alternate, run by run,
so that both see the same machine state. Every logdir is checked afterwards: its archives and
`current` must hold exactly the input (or, with `t`, the input with a stamp per line).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

CONFIGS = [
    ("1 logdir", ["n5", "s1000000", "./a"], 1, False),
    ("1 logdir, t", ["n5", "s1000000", "t", "./a"], 1, True),
    ("3 logdirs", ["n5", "s1000000", "./a", "./b", "./c"], 3, False),
    ("3 logdirs, t", ["n5", "s1000000", "t", "./a", "t", "./b", "t", "./c"], 3, True),
]


def make_input(path, size):
    """Lines of 40 to 110 bytes, like a service's log."""
    words = b"the quick brown fox jumps over the lazy dog while the service reports status".split()
    total = 0
    i = 0
    with open(path, "wb") as out:
        chunk = []
        while total < size:
            line = b"svc[%d]: request %d handled in %d ms: %s\n" % (
                i % 977, i, i % 313, b" ".join(words[: (i % 13) + 3]))
            chunk.append(line)
            total += len(line)
            i += 1
            if len(chunk) >= 10000:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
    return total, i


def run_once(argv, script, input_path, workdir):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    with open(input_path, "rb") as source:
        cat = subprocess.Popen(["cat"], stdin=source, stdout=subprocess.PIPE)
    start = time.monotonic()
    logger = subprocess.Popen(argv + script, stdin=cat.stdout, cwd=workdir, stderr=subprocess.PIPE)
    cat.stdout.close()
    _, status, usage = os.wait4(logger.pid, 0)
    wall = time.monotonic() - start
    logger.returncode = os.waitstatus_to_exitcode(status)
    err = logger.stderr.read()
    cat.wait()
    if logger.returncode != 0:
        sys.exit(f"{argv[0]} {' '.join(script)} exited {logger.returncode}: {err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def check(workdir, logdirs, stamped, input_size, keep):
    """The newest lines kept equal the end of the input (stamps taken off)."""
    for name in "abc"[:logdirs]:
        d = os.path.join(workdir, name)
        files = sorted(f for f in os.listdir(d) if f.startswith("@")) + ["current"]
        data = b"".join(open(os.path.join(d, f), "rb").read() for f in files)
        if stamped:
            lines = data.split(b"\n")
            if any(line and (line[0:1] != b"@" or line[25:26] != b" ") for line in lines):
                return f"{d}: a line without its stamp"
            data = b"\n".join(line[26:] if line else line for line in lines)
        with open(keep, "rb") as f:
            f.seek(input_size - len(data))
            if f.read() != data:
                return f"{d}: the kept lines are not the end of the input"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ostler", required=True)
    parser.add_argument("--s6-log", default="/usr/bin/s6-log")
    parser.add_argument("--root", required=True, help="a directory on tmpfs for input and logdirs")
    parser.add_argument("--size-mb", type=int, default=1000, help="input size (default 1000 MB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per logger and configuration")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    input_path = os.path.join(args.root, "input")
    size, lines = make_input(input_path, args.size_mb * 1_000_000)
    print(f"input: {size / 1e6:.0f} MB, {lines} lines, mean {size / lines:.1f} bytes a line")
    loggers = [("ostler", [args.ostler, "log"]), ("s6-log", [args.s6_log])]
    results = {}
    problems = []
    for title, script, logdirs, stamped in CONFIGS:
        for run in range(args.runs):
            for name, argv in loggers:
                workdir = os.path.join(args.root, name)
                wall, cpu = run_once(argv, script, input_path, workdir)
                results.setdefault((title, name), []).append((wall, cpu))
                if run == 0:
                    problem = check(workdir, logdirs, stamped, size, input_path)
                    if problem:
                        problems.append(f"{name}, {title}: {problem}")
        shutil.rmtree(os.path.join(args.root, "ostler"), ignore_errors=True)
        shutil.rmtree(os.path.join(args.root, "s6-log"), ignore_errors=True)

    gb = size / 1e9
    print()
    print(f"median of {args.runs} runs; MB/s = input bytes / logger wall time; CPU = user + system of the logger")
    header = f"{'configuration':<15} {'logger':<7} {'MB/s':>7} {'CPU s/GB':>9}"
    print(header)
    print("-" * len(header))
    table = []
    for title, _, _, _ in CONFIGS:
        figures = {}
        for name, _ in loggers:
            runs = results[(title, name)]
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            figures[name] = (size / 1e6 / wall, cpu / gb)
            print(f"{title:<15} {name:<7} {figures[name][0]:>7.0f} {figures[name][1]:>9.2f}")
        ours, theirs = figures["ostler"], figures["s6-log"]
        print(f"{'':<15} {'ratio':<7} {ours[0] / theirs[0]:>7.2f} {ours[1] / theirs[1]:>9.2f}"
              "   (ostler / s6-log: throughput above 1 and CPU below 1 favour ostler)")
        table.append({"configuration": title, "ostler_mb_s": ours[0], "ostler_cpu_s_gb": ours[1],
                      "s6_mb_s": theirs[0], "s6_cpu_s_gb": theirs[1]})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"input_bytes": size, "runs": args.runs, "table": table}, f, indent=1)
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
