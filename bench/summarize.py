#!/usr/bin/env python3
"""Summarizes bench/run.sh's results (build-bench/results/) against the
targets of docs/performance.md. Usage: summarize.py RESULTS_DIR"""
import glob
import json
import math
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)["benchmarks"]
    except (OSError, ValueError, KeyError):
        return []


def median_runs(benchmarks):
    """run_name -> the median aggregate (or the single run) of each benchmark."""
    out = {}
    for b in benchmarks:
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                out[b["run_name"]] = b
        elif b.get("error_occurred"):
            out.setdefault(b["run_name"], b)
        else:
            out.setdefault(b["run_name"], b)
    return out


def verdict(ok):
    return "PASS" if ok else "MISS"


def budget_verdict(fraction, limit):
    if fraction <= limit:
        return "PASS"
    # The budget admits a window while under the limit and charges it when it
    # ends: the last windows (up to one per slot) overshoot a little.
    if fraction <= limit * 1.05:
        return "PASS (at the limit: < 5% over, last windows in flight)"
    return f"MISS ({fraction / limit:.1f}x the limit)"


def fmt_us(ns):
    return "-" if ns is None or math.isnan(ns) else f"{ns / 1000:.1f}"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build-bench/results"

    # --- Unsampled check ---
    check = median_runs(load(os.path.join(out, "check.json")))
    print("Unsampled check (ns per access, CPU time, median)   target: check <= 2 ns")
    rows = [("read", "BM_BaselineRead", "BM_UnsampledCheckRead"),
            ("write", "BM_BaselineWrite", "BM_UnsampledCheckWrite")]
    for threads in (1, 2):
        for kind, base, checked in rows:
            b = check.get(f"{base}/threads:{threads}")
            c = check.get(f"{checked}/threads:{threads}")
            if not b or not c:
                continue
            bn, cn = b["ns_per_access"] * 1e9, c["ns_per_access"] * 1e9
            print(f"  {kind:5} {threads} thread(s): plain {bn:5.2f}  checked {cn:5.2f}"
                  f"  check {cn - bn:5.2f} ns  {verdict(cn - bn <= 2.0)}")
        only = check.get(f"BM_UnsampledCheckOnly/threads:{threads}")
        if only:
            n = only["ns_per_access"] * 1e9
            print(f"  check alone, {threads} thread(s): {n:5.2f} ns  {verdict(n <= 2.0)}")

    # --- Windows ---
    window = {}
    for path in sorted(glob.glob(os.path.join(out, "window*.json"))):
        window.update(median_runs(load(path)))
    print("\nWindow cost vs background threads (us, median)   "
          "target: arm + disarm <= 10 us with <= 8 threads")
    families = [("BM_ArmDisarm", "idle, unpinned"),
                ("BM_ArmDisarmSameCpu", "idle, same CPU"),
                ("BM_ArmDisarmOtherCpu", "idle, other CPU"),
                ("BM_ArmDisarmBusy", "busy (spinning)")]
    for family, label in families:
        cells = []
        for n in (0, 1, 2, 4, 8, 16, 32, 64, 128, 256):
            b = window.get(f"{family}/{n}/real_time")
            if not b or "arm_ns" not in b:
                continue
            mark = ""
            if n <= 8:
                mark = "" if b["arm_ns"] <= 10000 else "!"
            cells.append(f"{n}:{fmt_us(b['arm_ns'])}{mark}")
        if cells:
            print(f"  {label:16} arm+disarm  " + "  ".join(cells))
    ok = all(b["arm_ns"] <= 10000 for name, b in window.items()
             if name.startswith("BM_ArmDisarm/") and "arm_ns" in b
             and int(name.split("/")[1]) <= 8)
    print(f"  ('!' = over 10 us)  idle unpinned, <= 8 threads: {verdict(ok)}")
    for family, label in families[:3]:
        lo = window.get(f"{family}/1/real_time")
        hi = window.get(f"{family}/256/real_time")
        if lo and hi and "arm_ns" in lo and "arm_ns" in hi:
            slope = (hi["arm_ns"] - lo["arm_ns"]) / 255
            print(f"  per extra thread, {label}: {slope / 1000:.2f} us")

    # --- Budget ---
    print("\nBudget: charged window cost / process CPU time, busy threads, sample_rate=100,"
          " delay_us=10")
    baselines = {}
    for path in glob.glob(os.path.join(out, "budget_baseline_t*.json")):
        for b in load(path):
            baselines[int(b["threads"])] = b.get("checks_per_cpu_us")
    print(f"  {'threads':>7} {'max_ovh':>7} {'fraction':>9} {'max seen':>9} {'wall':>9} "
          f"{'windows':>8} {'window':>10} {'arm':>10} {'slowdown':>9}")
    runs = []
    for path in glob.glob(os.path.join(out, "budget_t*_o*.json")):
        m = re.search(r"budget_t(\d+)_o([\d.]+)\.json$", path)
        if m:
            runs.append((int(m.group(1)), float(m.group(2)), path))
    for threads, limit, path in sorted(runs):
        for b in load(path):
            if b.get("error_occurred"):
                print(f"  {threads:>7} {limit:>6g}% error: {b.get('error_message')}")
                continue
            base = baselines.get(threads)
            slow = (1 - b["checks_per_cpu_us"] / base) * 100 if base else float("nan")
            print(f"  {threads:>7} {limit:>6g}% {b['fraction_pct']:>8.2f}% "
                  f"{b['max_fraction_pct']:>8.2f}% {b.get('wall_fraction_pct', float('nan')):>8.2f}% "
                  f"{int(b['windows']):>8} "
                  f"{b['window_us']:>8.0f}us {b['arm_us']:>8.0f}us {slow:>8.1f}%  "
                  f"{budget_verdict(b['fraction_pct'], limit)}")
    print("  (fraction: stats.budget_ns (watcher CPU time + stalls) at the end, whole process;"
          " max seen: highest of 100 ms\n   checkpoints after 2 s of CPU (0: none); wall:"
          " stats.window_ns, preemption included;\n   slowdown: checks per CPU second vs the same"
          " loop without windows)")

    # --- Memory ---
    try:
        with open(os.path.join(out, "mem.txt")) as f:
            mem = f.read()
    except OSError:
        mem = ""
    init = re.search(r"init, anonymous.*?(-?\d+) KiB", mem)
    code = re.search(r"init, file-backed.*?(-?\d+) KiB", mem)
    per = re.search(r"per thread, anonymous: *(-?[\d.]+) KiB", mem)
    kern = re.search(r"kernel perf_event objects: .*= *([\d.]+) KiB", mem)
    if init and per:
        print("\nMemory   target: <= 1 MiB + a few KiB per thread")
        print(f"  at start-up: {init.group(1)} KiB anonymous "
              f"{verdict(int(init.group(1)) <= 1024)}"
              + (f", {code.group(1)} KiB of shared library code" if code else ""))
        print(f"  per thread:  {float(per.group(1)):.1f} KiB anonymous"
              + (f" + {float(kern.group(1)):.1f} KiB kernel (perf events)" if kern else ""))

    # --- Noise ---
    try:
        with open(os.path.join(out, "noise.txt")) as f:
            noise = f.read().splitlines()
    except OSError:
        noise = []
    last = {}  # phase -> noise of its last attempt
    for line in noise:
        m = re.match(r"(\S+)\s+other processes used\s+([\d.]+)%", line)
        if m:
            last[m.group(1)] = float(m.group(2))
    noisy = [f"{k} ({v:g}%)" for k, v in last.items() if v > 10]
    if noisy:
        print("\nWARNING: other processes used the CPUs during: " + ", ".join(noisy)
              + ".\n  Those results are inflated; rerun on a quiet machine.")


if __name__ == "__main__":
    main()
