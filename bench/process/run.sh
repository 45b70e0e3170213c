#!/usr/bin/env bash
# What trapsan costs per process, per thread and per fork (issue 10):
#   start-up   a program that does nothing, run N times (spawn_cost.c):
#              CPU time and max RSS per run
#   threads    thread_churn.c: 10,000 threads created and joined one by one
#   forks      fork_storm.c: 1,000 fork()s of a child that _exit()s at once
# each built plainly (clang 14) and with trapsan-cc (the compiler plugin),
# run plain / trapsan with default options (production) / mode=ci,
# interleaved round by round. Prints one table of medians over the rounds.
#
#   bench/process/run.sh                   build (build-bench/) and run, 5 rounds
#   ROUNDS=3 STARTS=100 THREADS=2000 FORKS=300 bench/process/run.sh   shorter
#   BUILD=build-perf bench/process/run.sh  use an existing build tree
#   TRAPSAN_LIB_DIR=DIR ...                run the trapsan builds against the
#                                          libtrapsan.so in DIR (before/after)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-bench}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
OUT="$BUILD/process"
ROUNDS="${ROUNDS:-5}"
STARTS="${STARTS:-200}"
THREADS="${THREADS:-10000}"
FORKS="${FORKS:-1000}"

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRAPSAN_BUILD_TESTS=OFF >/dev/null
fi
targets=(trapsan_shared TrapsanPlugin)
cmake --build "$BUILD" --target help 2>/dev/null | grep -q TrapsanClangPlugin &&
  targets+=(TrapsanClangPlugin)
cmake --build "$BUILD" -j 2 --target "${targets[@]}" >/dev/null
TRAPSAN_CC="${TRAPSAN_CC:-$BUILD/bin/trapsan-cc}"
[[ -x "$TRAPSAN_CC" ]] || { echo "no $TRAPSAN_CC: build the compiler plugin first" >&2; exit 1; }

mkdir -p "$OUT"
CC=clang-14
$CC -O2 -o "$OUT/spawn_cost" "$HERE/spawn_cost.c"
for p in trivial thread_churn fork_storm; do
  $CC -O2 -pthread -o "$OUT/$p.plain" "$HERE/$p.c"
  "$TRAPSAN_CC" -O2 -pthread -o "$OUT/$p.trapsan" "$HERE/$p.c"
done

lib_env=()
[[ -n "${TRAPSAN_LIB_DIR:-}" ]] && lib_env=(LD_LIBRARY_PATH="$TRAPSAN_LIB_DIR")
backend=$(env "${lib_env[@]}" TRAPSAN_OPTIONS=verbosity=1 "$OUT/trivial.trapsan" 2>&1 |
          sed -n 's/.*started: backend=\([a-z]*\).*/\1/p' || true)
[[ -n "$backend" ]] || { echo "$OUT/trivial.trapsan does not start:" >&2
  env "${lib_env[@]}" "$OUT/trivial.trapsan" >&2; exit 1; }
echo "trapsan backend on this machine: $backend" \
     "(library: ${TRAPSAN_LIB_DIR:-$BUILD/runtime})"

# run CONFIG BENCH: one measurement, printed as "bench config key=value...".
run() {
  local config=$1 bench=$2 exe args=() env_=(env -u TRAPSAN_OPTIONS -u TRAPSAN_DEGRADED_WARNED)
  case $bench in
    start-up) exe=trivial; args=("$STARTS") ;;
    threads)  exe=thread_churn; args=(1) ;;
    forks)    exe=fork_storm; args=(1) ;;
  esac
  case $config in
    plain)      exe="$OUT/$exe.plain" ;;
    production) exe="$OUT/$exe.trapsan"; env_+=("${lib_env[@]}") ;;
    ci)         exe="$OUT/$exe.trapsan"; env_+=("${lib_env[@]}" TRAPSAN_OPTIONS=mode=ci) ;;
  esac
  local n=${args[0]} prog_args=()
  [[ $bench = threads ]] && prog_args=("$THREADS")
  [[ $bench = forks ]] && prog_args=("$FORKS")
  echo "$bench $config $("${env_[@]}" "$OUT/spawn_cost" "$n" "$exe" "${prog_args[@]}")"
}

: >"$OUT/results.txt"
configs=(plain production ci)
for ((r = 1; r <= ROUNDS; r++)); do
  for bench in start-up threads forks; do
    # The order rotates between rounds: no configuration always runs first.
    for ((i = 0; i < 3; i++)); do
      run "${configs[(i + r) % 3]}" "$bench" >>"$OUT/results.txt"
    done
  done
done

python3 - "$OUT/results.txt" "$STARTS" "$THREADS" "$FORKS" <<'PY'
import statistics, sys
path, starts, threads, forks = sys.argv[1:]
rows = {}
for line in open(path):
    bench, config, *kv = line.split()
    d = dict(x.split("=") for x in kv)
    rows.setdefault((bench, config), []).append({k: float(v) for k, v in d.items()})
med = lambda b, c, k: statistics.median(r[k] for r in rows[(b, c)])
what = {"start-up": f"one run of a program doing nothing (mean of {starts})",
        "threads": f"{threads} threads created and joined",
        "forks": f"{forks} forks, each child _exit()s"}
print("| bench | configuration | wall (ms) | CPU (ms) | max RSS (KiB) | minor faults | CPU vs plain |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for bench in ("start-up", "threads", "forks"):
    for config in ("plain", "production", "ci"):
        if (bench, config) not in rows: continue
        cpu = med(bench, config, "cpu_ms")
        ratio = cpu / med(bench, "plain", "cpu_ms")
        print(f"| {what[bench] if config == 'plain' else ''} | {config} | "
              f"{med(bench, config, 'wall_ms'):.1f} | {cpu:.1f} | "
              f"{med(bench, config, 'maxrss_kb'):.0f} | {med(bench, config, 'minflt'):.0f} | "
              f"{ratio:.2f}x |")
n = len(rows[("start-up", "plain")])
print(f"\nmedians of {n} round(s); CPU = user + system time of the program (and its children)")
PY
