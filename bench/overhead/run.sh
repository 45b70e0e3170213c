#!/usr/bin/env bash
# Overhead of trapsan's instrumented build (compiler plugin, default options)
# against the same programs built plainly and with ThreadSanitizer (clang
# 14's runtime), side by side in one run, on the workloads of this folder.
#
#   bench/overhead/run.sh            build (in build-bench/) and run, 5 rounds
#   ROUNDS=3 bench/overhead/run.sh
#
# Each round runs every build of every workload once, interleaved (in an
# order that rotates between rounds), so that noise hits all builds alike;
# the table shows medians. Code size compares
# the .text of the workload's own object file (the runtimes are separate
# libraries for trapsan, static archives for TSan).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="$ROOT/build-bench"
OUT="$BUILD/overhead"
ROUNDS="${ROUNDS:-5}"
WORKLOADS=(stream nbody matmul hashmap sort pipeline)

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRAPSAN_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
TRAPSAN_CXX="${TRAPSAN_CXX:-$BUILD/bin/trapsan-c++}"
[[ -x "$TRAPSAN_CXX" ]] || { echo "no $TRAPSAN_CXX: build the compiler plugin first" >&2; exit 1; }

mkdir -p "$OUT"
CXX=clang++-14
COMMON=(-O2 -g -fno-omit-frame-pointer -pthread)
for w in "${WORKLOADS[@]}"; do
  src="$HERE/$w.cc"
  $CXX "${COMMON[@]}" -c "$src" -o "$OUT/$w.plain.o"
  $CXX "${COMMON[@]}" "$OUT/$w.plain.o" -o "$OUT/$w.plain"
  "$TRAPSAN_CXX" "${COMMON[@]}" -c "$src" -o "$OUT/$w.trapsan.o"
  "$TRAPSAN_CXX" "${COMMON[@]}" "$OUT/$w.trapsan.o" -o "$OUT/$w.trapsan"
  $CXX "${COMMON[@]}" -fsanitize=thread -c "$src" -o "$OUT/$w.tsan.o"
  $CXX "${COMMON[@]}" -fsanitize=thread "$OUT/$w.tsan.o" -o "$OUT/$w.tsan"
done

: >"$OUT/times.txt"
for ((r = 1; r <= ROUNDS; r++)); do
  for w in "${WORKLOADS[@]}"; do
    # The builds' order rotates from round to round: a run's position after
    # another (caches, page allocation, CPU frequency) favours no build.
    case $((r % 3)) in
      1) order=(plain trapsan tsan) ;;
      2) order=(trapsan tsan plain) ;;
      0) order=(tsan plain trapsan) ;;
    esac
    for b in "${order[@]}"; do
      # Default options: what a user gets. TRAPSAN_OPTIONS/TSAN_OPTIONS unset.
      s=$(env -u TRAPSAN_OPTIONS -u TSAN_OPTIONS "$OUT/$w.$b" | sed -n 's/^SECONDS=//p')
      echo "$w $b $s" >>"$OUT/times.txt"
    done
  done
done

python3 - "$OUT" "${WORKLOADS[@]}" <<'PY'
import math, statistics, subprocess, sys
out, workloads = sys.argv[1], sys.argv[2:]
times = {}
for line in open(f"{out}/times.txt"):
    w, b, s = line.split()
    times.setdefault((w, b), []).append(float(s))
def text(path):
    o = subprocess.run(["size", "-A", path], capture_output=True, text=True).stdout
    return sum(int(l.split()[1]) for l in o.splitlines() if l.startswith(".text"))
# Slowdown: the median over rounds of each round's own ratio (the builds of
# a round ran minutes apart at most, so slow drifts of the machine cancel);
# the plain build's spread over the rounds shows how noisy the machine was.
slow_t, slow_s, growth = [], [], []
print("| workload | plain (s), median [min-max] | trapsan (s) | TSan (s) | trapsan slowdown | TSan slowdown | code size, trapsan/plain |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for w in workloads:
    pl, tr, ts = (times[(w, b)] for b in ("plain", "trapsan", "tsan"))
    rt = statistics.median(t / p for t, p in zip(tr, pl))
    rs = statistics.median(t / p for t, p in zip(ts, pl))
    g = text(f"{out}/{w}.trapsan.o") / text(f"{out}/{w}.plain.o")
    slow_t.append(rt); slow_s.append(rs); growth.append(g)
    print(f"| {w} | {statistics.median(pl):.3f} [{min(pl):.2f}-{max(pl):.2f}] | "
          f"{statistics.median(tr):.3f} | {statistics.median(ts):.3f} | "
          f"{rt:.3f}x | {rs:.2f}x | {g:.2f}x |")
gm = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
print(f"| **geometric mean** | | | | **{gm(slow_t):.3f}x** | **{gm(slow_s):.2f}x** | {gm(growth):.2f}x |")
PY
