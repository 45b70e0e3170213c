#!/usr/bin/env bash
# Builds trapsan's benchmarks in build-bench/ and runs them all, then prints a
# summary against the targets of docs/performance.md. About 2 minutes on a
# quiet 2-CPU machine, plus the first build.
#
#   bench/run.sh                  everything
#   BENCH_QUICK=1 bench/run.sh    one repetition, shorter runs (smoke test)
#
# Other processes competing for the CPUs inflate the results (windows most of
# all). The script measures how much CPU other processes used during each
# phase and reruns a phase (up to BENCH_RETRIES times, default 2) when that is
# over 10%; before a phase it waits for a quiet machine, up to
# BENCH_WAIT_QUIET seconds in all (default 120).
#
# Results (Google Benchmark JSON, console logs, noise.txt) go to
# build-bench/results/. Extra TRAPSAN_OPTIONS, if set, are appended to each
# benchmark's own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-bench"
OUT="$BUILD/results"
QUICK="${BENCH_QUICK:-0}"
RETRIES="${BENCH_RETRIES:-2}"
WAIT_LEFT="${BENCH_WAIT_QUIET:-120}"

if [[ "$QUICK" == 1 ]]; then
  REPS=1; MIN_TIME=0.05; BUDGET_SECONDS=2; RETRIES=0; WAIT_LEFT=0
else
  REPS=3; MIN_TIME=0.2; BUDGET_SECONDS=4
fi

say() { printf '\n== %s\n' "$*"; }

say "Building (build-bench/, RelWithDebInfo)"
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRAPSAN_BUILD_TESTS=OFF -DTRAPSAN_BUILD_EXAMPLES=OFF -DTRAPSAN_BUILD_BENCH=ON \
  >"$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" \
  --target check_bench window_bench budget_bench mem_bench
rm -rf "$OUT"
mkdir -p "$OUT"
BIN="$BUILD/bench"
NCPU="$(nproc)"

# --- Noise from other processes ---

# Percentage of CPU time not idle over one second, machine-wide.
busy_pct() {
  local a b total=0 i
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  local idle=$(( (b[4] - a[4]) + (b[5] - a[5]) ))
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# Waits while other processes keep the CPUs more than 10% busy, within the
# overall allowance WAIT_LEFT (seconds).
wait_quiet() {
  local b
  while (( WAIT_LEFT > 0 )); do
    b="$(busy_pct)"
    (( b <= 10 )) && return 0
    echo "(waiting for a quiet machine: ${b}% busy, ${WAIT_LEFT}s of waiting left)"
    WAIT_LEFT=$((WAIT_LEFT - 1))
  done
}

# Sets CHILDREN_CPU to the CPU seconds used so far by this shell's finished
# children. `times` must run in this shell, not in a $(...) subshell, which
# has no children of its own.
children_cpu() {
  times >"$OUT/.times"
  CHILDREN_CPU="$(tail -1 "$OUT/.times" | awk '
    function s(t) { split(t, a, "m"); sub("s", "", a[2]); return a[1] * 60 + a[2] }
    { print s($1) + s($2) }')"
}

# run_phase NAME COMMAND...: runs COMMAND; if other processes used more than
# 10% of the CPUs meanwhile (user + system time machine-wide minus this
# script's children), runs it again, up to RETRIES times. Appends the noise
# of each attempt to noise.txt.
run_phase() {
  local name="$1"; shift
  local try stat0 stat1 cpu0 cpu1 wall0 wall1 busy i noise
  for (( try = 0; try <= RETRIES; ++try )); do
    wait_quiet
    stat0=($(head -1 /proc/stat)); children_cpu; cpu0="$CHILDREN_CPU"
    wall0="$(date +%s.%N)"
    "$@"
    stat1=($(head -1 /proc/stat)); children_cpu; cpu1="$CHILDREN_CPU"
    wall1="$(date +%s.%N)"
    busy=0
    for i in 1 2 3; do busy=$((busy + stat1[i] - stat0[i])); done
    noise="$(awk -v b="$busy" -v c0="$cpu0" -v c1="$cpu1" -v w0="$wall0" \
               -v w1="$wall1" -v n="$NCPU" 'BEGIN {
      other = b / 100 - (c1 - c0); if (other < 0) other = 0
      printf "%.1f", 100 * other / ((w1 - w0) * n) }')"
    echo "$name other processes used $noise% of the CPUs" >>"$OUT/noise.txt"
    if awk -v x="$noise" 'BEGIN { exit !(x <= 10) }'; then return 0; fi
    echo "(other processes used $noise% of the CPUs during $name)"
    (( try < RETRIES )) && echo "(running $name again)"
  done
  return 0
}

# --- The machine ---

say "Machine"
wait_quiet
{
  echo "cpu:      $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cpus:     $NCPU"
  echo "kernel:   $(uname -r)"
  hv="$(lscpu | sed -n 's/^Hypervisor vendor: *//p')"
  echo "virtual:  ${hv:-none (bare metal)}"
  echo "cpuidle:  $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo '?')"
  echo "paranoid: $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')"
  echo "load:     $(cut -d' ' -f1-3 /proc/loadavg); CPU busy before the run: $(busy_pct)%"
} | tee "$OUT/machine.txt"

gbench_args=(--benchmark_repetitions="$REPS" --benchmark_min_time="$MIN_TIME"
             --benchmark_display_aggregates_only=true
             --benchmark_out_format=json)

# --- The benchmarks ---

say "Unsampled check (check_bench)"
check() {
  "$BIN/check_bench" "${gbench_args[@]}" --benchmark_out="$OUT/check.json" \
    2>&1 | tee "$OUT/check.txt"
}
run_phase check check

say "Window: arm + disarm vs threads (window_bench)"
# One family at a time: a noisy one is rerun alone.
window() {  # window FAMILY
  "$BIN/window_bench" "${gbench_args[@]}" --benchmark_filter="^$1/" \
    --benchmark_out="$OUT/window_$1.json" 2>&1 |
    grep -E '^BM_|^trapsan_|WARNING|rror' | tee -a "$OUT/window.txt"
}
for family in BM_ArmDisarm BM_ArmDisarmSameCpu BM_ArmDisarmOtherCpu \
              BM_ArmDisarmBusy; do
  run_phase "$family" window "$family"
done

say "Budget under load (budget_bench, ${BUDGET_SECONDS}s per run)"
budget() {  # budget THREADS OVERHEAD|baseline
  local args=(--threads="$1" --seconds="$BUDGET_SECONDS"
              --benchmark_out_format=json)
  if [[ "$2" == baseline ]]; then
    args+=(--baseline --benchmark_out="$OUT/budget_baseline_t$1.json")
  else
    args+=(--max_overhead="$2" --benchmark_out="$OUT/budget_t$1_o$2.json")
  fi
  "$BIN/budget_bench" "${args[@]}" 2>&1 | grep -E '^BM_|rror' |
    tee -a "$OUT/budget.txt"
}
for threads in 2 256; do
  for overhead in baseline 1 5; do
    run_phase "budget_t${threads}_$overhead" budget "$threads" "$overhead"
  done
done

say "Memory (mem_bench)"
"$BIN/mem_bench" 2>&1 | tee "$OUT/mem.txt"

say "Noise (CPU used by other processes during each phase)"
cat "$OUT/noise.txt"

say "Summary"
if command -v python3 >/dev/null 2>&1; then
  python3 "$ROOT/bench/summarize.py" "$OUT" | tee "$OUT/summary.txt"
else
  echo "python3 not found: no summary; see $OUT"
fi
