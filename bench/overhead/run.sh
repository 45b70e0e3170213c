#!/usr/bin/env bash
# Overhead of trapsan's instrumented build (compiler plugin, default options)
# against the same programs built plainly and with ThreadSanitizer (clang
# 14's runtime), side by side in one run, on the workloads of this folder.
# One table, one column per way of running:
#
#   plain          clang++ -O2, no sanitizer
#   hw             trapsan-c++, default options, backend=hw (hardware
#                  watchpoints); "n/a (no debug traps)" on a machine whose
#                  debug registers deliver no trap (the start-up self-test
#                  fails there: trapsan-kcheck --only sigtrap says why)
#   soft           trapsan-c++, default options, backend=soft (soft
#                  watchpoints: what such a machine gets)
#   soft, no window  backend=soft:sample_rate=1000000000: nothing is ever
#                  sampled, so no window opens: the instrumentation and the
#                  soft-window check alone
#   TSan           clang++ -fsanitize=thread
#   preload        the plain binary with LD_PRELOAD=libtrapsan.so, default
#                  options: its threads' CPU-time timer samples it
#                  (docs/preload.md; hw or soft as this machine allows)
#
#   bench/overhead/run.sh             build (in build-bench/) and run, 5 rounds
#   ROUNDS=3 bench/overhead/run.sh
#   BUILD=build-perf bench/overhead/run.sh   use an existing build tree
#
# Each round runs every build of every workload once, interleaved (in an
# order that rotates between rounds), so that noise hits all builds alike;
# each slowdown is the median over rounds of that round's ratio to plain.
# Code size compares the .text of the workload's own object file (the
# runtimes are separate libraries for trapsan, static archives for TSan).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-bench}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
OUT="$BUILD/overhead"
ROUNDS="${ROUNDS:-5}"
WORKLOADS=(${WORKLOADS:-stream nbody matmul hashmap sort pipeline})

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRAPSAN_BUILD_TESTS=OFF >/dev/null
fi
targets=(trapsan_shared TrapsanPlugin)
# (The list first: grep -q closing the pipe early fails the pipeline under
# pipefail, and the plugin was then not built in a fresh tree.)
help=$(cmake --build "$BUILD" --target help 2>/dev/null || true)
grep -q TrapsanClangPlugin <<<"$help" && targets+=(TrapsanClangPlugin)
cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" >/dev/null
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

# Does this machine deliver debug traps? trapsan's start-up self-test says:
# with backend=hw it starts the hw backend only when a watchpoint's trap
# arrived.
first="$OUT/${WORKLOADS[0]}.trapsan"
if TRAPSAN_OPTIONS=backend=hw:verbosity=1:sample_rate=1000000000 "$first" 2>&1 >/dev/null |
     grep -q 'started: backend=hw'; then
  HW=1
else
  HW=0
fi
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- runtime compiler-plugin 2>/dev/null || commit="$commit+changes"

configs=(plain soft soft0 tsan preload)
((HW)) && configs=(plain hw soft soft0 tsan preload)
# run WORKLOAD CONFIG: seconds, from the workload's SECONDS= line.
run() {
  local w=$1 c=$2 exe opts=()
  case $c in
    plain) exe="$OUT/$w.plain" ;;
    hw)    exe="$OUT/$w.trapsan"; opts=(TRAPSAN_OPTIONS=backend=hw) ;;
    soft)  exe="$OUT/$w.trapsan"; opts=(TRAPSAN_OPTIONS=backend=soft) ;;
    soft0) exe="$OUT/$w.trapsan"; opts=(TRAPSAN_OPTIONS=backend=soft:sample_rate=1000000000) ;;
    tsan)  exe="$OUT/$w.tsan" ;;
    preload) exe="$OUT/$w.plain"; opts=(LD_PRELOAD="$BUILD/runtime/libtrapsan.so") ;;
  esac
  # Otherwise default options: what a user gets.
  env -u TRAPSAN_OPTIONS -u TSAN_OPTIONS "${opts[@]}" "$exe" 2>/dev/null |
    sed -n 's/^SECONDS=//p'
}

: >"$OUT/times.txt"
n=${#configs[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  for w in "${WORKLOADS[@]}"; do
    # The order rotates from round to round: a run's position after another
    # (caches, page allocation, CPU frequency) favours no build.
    for ((i = 0; i < n; i++)); do
      c=${configs[(i + r) % n]}
      echo "$w $c $(run "$w" "$c")" >>"$OUT/times.txt"
    done
  done
done

python3 - "$OUT" "$HW" "$commit" "$ROUNDS" "${WORKLOADS[@]}" <<'PY'
import math, statistics, subprocess, sys
out, hw, commit, rounds, workloads = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4], sys.argv[5:]
times = {}
for line in open(f"{out}/times.txt"):
    w, c, s = line.split()
    times.setdefault((w, c), []).append(float(s))
def text(path):
    o = subprocess.run(["size", "-A", path], capture_output=True, text=True).stdout
    return sum(int(l.split()[1]) for l in o.splitlines() if l.startswith(".text"))
gm = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
cols = ["hw", "soft", "soft0", "tsan", "preload"]
names = {"hw": "hw", "soft": "soft", "soft0": "soft, no window", "tsan": "TSan",
         "preload": "plain + LD_PRELOAD"}
print(f"runtime and plugin at {commit}; {rounds} round(s); slowdown = median over rounds of the round's ratio to plain")
print()
print("| workload | plain (s), median [min-max] | " +
      " | ".join(names[c] for c in cols) + " | code size, trapsan/plain |")
print("| --- | --- | " + " | ".join("---" for c in cols) + " | --- |")
ratios = {c: [] for c in cols}
growth = []
for w in workloads:
    pl = times[(w, "plain")]
    cells = []
    for c in cols:
        if c == "hw" and not hw:
            cells.append("n/a (no debug traps)")
            continue
        rs = statistics.median(t / p for t, p in zip(times[(w, c)], pl))
        ratios[c].append(rs)
        cells.append(f"{rs:.3f}x ({statistics.median(times[(w, c)]):.3f} s)")
    g = text(f"{out}/{w}.trapsan.o") / text(f"{out}/{w}.plain.o")
    growth.append(g)
    print(f"| {w} | {statistics.median(pl):.3f} [{min(pl):.2f}-{max(pl):.2f}] | " +
          " | ".join(cells) + f" | {g:.2f}x |")
print("| **geometric mean** | | " +
      " | ".join("n/a" if not ratios[c] else f"**{gm(ratios[c]):.3f}x**" for c in cols) +
      f" | {gm(growth):.2f}x |")
PY
