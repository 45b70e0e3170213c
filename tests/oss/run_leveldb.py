#!/usr/bin/env python3
"""leveldb's own test suite, built plain and with trapsan-cc/trapsan-c++, run under TRAPSAN_OPTIONS=mode=ci.

Issue 10, "a real code base in CI". The source is Debian 12's leveldb source package, fetched with apt-get
source (tests/oss/fetch_source.py) into a cache directory shared between runs. Both builds use clang-14 with
CMake's RelWithDebInfo (-O2 -g); the trapsan build's compilers are the trapsan-cc/trapsan-c++ wrappers. Every
test binary of leveldb's CTest list runs in both builds; the per-test results (GoogleTest XML) must be the
same, and every trapsan report must have a review in tests/oss/leveldb.reviewed (reports.py). A test that fails
is run again alone (up to --attempts runs in all, in either build: leveldb has timing-dependent tests, such as
DBTest.HiddenValuesAreRemoved, that fail now and then on a loaded machine in the plain build too); it counts as
failed only if every attempt failed.

Exit status: 0 same results and every report reviewed; 1 a difference, an unreviewed report, a crash, a
trapsan ERROR line or a build failure; 77 the source cannot be fetched (no network or mirror) and is not in
the cache.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fetch_source  # noqa: E402
import gtest_results  # noqa: E402
import oss_run  # noqa: E402
import reports  # noqa: E402
from oss_run import log  # noqa: E402

PACKAGE = "leveldb"
# The binaries leveldb's CMakeLists.txt registers with add_test: its whole suite (--tests all).
ALL_TESTS = ("c_test fault_injection_test issue178_test issue200_test issue320_test env_test status_test "
             "no_destructor_test autocompact_test corruption_test db_test dbformat_test filename_test log_test "
             "recovery_test skiplist_test version_edit_test version_set_test write_batch_test memenv_test "
             "filter_block_test table_test arena_test bloom_test cache_test coding_test crc32c_test hash_test "
             "logging_test env_posix_test").split()
# What CI runs by default (docs/oss.md): the binaries whose tests run threads (leveldb's background
# compaction thread, Env::Schedule/StartThread, the concurrent skiplist and DBTest.MultiThreaded), within
# the CI time budget.
DEFAULT_TESTS = ("db_test env_test env_posix_test skiplist_test autocompact_test corruption_test fault_injection_test "
                 "recovery_test issue178_test issue200_test issue320_test c_test").split()
# db_test is split into shards so that the two builds' longest binary does not serialize the run.
SHARDS = {"db_test": 3}
def cmake_build(src, build, cc, cxx, jobs, key, targets, logfile):
    """Configures leveldb into `build` (again, from scratch, when its key changed) and builds `targets`."""
    stamp = os.path.join(build, ".trapsan-oss-key")
    steps = []
    if not (os.path.exists(stamp) and open(stamp).read() == key):
        shutil.rmtree(build, ignore_errors=True)
        os.makedirs(build)
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        steps.append(["cmake", "-S", src, "-B", build, *gen, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                      "-DLEVELDB_BUILD_BENCHMARKS=OFF", "-DHAVE_SNAPPY=OFF"])
    steps.append(["cmake", "--build", build, "-j", str(jobs), "--target", *targets])
    env = dict(os.environ, CC=cc, CXX=cxx)
    start = time.monotonic()
    with open(logfile, "a") as out:
        for cmd in steps:
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            if subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                log(f"build failed: {' '.join(cmd)} (log: {logfile})")
                with open(logfile) as f:
                    sys.stdout.write("".join(f.readlines()[-40:]))
                return False
    with open(stamp, "w") as f:
        f.write(key)
    log(f"built {', '.join(targets)} in {build} in {time.monotonic() - start:.0f} s")
    return True


def ctest_commands(build):
    """{test name: command} from the build's CTest list (a test whose binary was not built has none)."""
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build, capture_output=True, text=True,
                         check=True).stdout
    return {t["name"]: t["command"] for t in json.loads(out)["tests"] if t.get("command")}


class Run:
    """One run of a test binary (a shard of it, or some of its tests) in one build."""

    def __init__(self, flavor, binary, command, shard, filt, attempt):
        self.flavor, self.binary, self.command = flavor, binary, command
        self.shard, self.filter, self.attempt = shard, filt, attempt
        self.tag = f"{flavor}-{binary}" + (f"-s{shard[0]}" if shard else "") + f"-a{attempt}"
        self.results, self.status, self.seconds, self.stderr_lines = None, None, 0.0, []


def execute(run, work, trapsan_options, timeout):
    tmp = os.path.join(work, "tmp", run.tag)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    xml = os.path.join(work, "xml", run.tag + ".xml")
    base = dict(os.environ, TEST_TMPDIR=tmp)
    if run.flavor == "trapsan":
        env = oss_run.trapsan_env(os.path.join(work, "reports", run.tag), trapsan_options, base)
    else:
        env = oss_run.plain_env(base)
    cmd = list(run.command)
    if run.binary != "c_test":
        cmd.append(f"--gtest_output=xml:{xml}")
        if run.filter:
            cmd.append(f"--gtest_filter={run.filter}")
        if run.shard:
            env["GTEST_SHARD_INDEX"], env["GTEST_TOTAL_SHARDS"] = str(run.shard[0]), str(run.shard[1])
    with open(os.path.join(work, "logs", run.tag + ".log"), "w") as out:
        r = oss_run.run(cmd, env, timeout, cwd=tmp, stdout=out)
        out.write(r.stderr)
    run.status, run.seconds = r.status, r.seconds
    run.stderr_lines = r.unexpected_trapsan_lines()
    if run.binary == "c_test":
        run.results = {"c_test": "passed" if run.status == 0 else "failed"}
    else:
        run.results = gtest_results.parse_gtest_xml(xml)
    shutil.rmtree(tmp, ignore_errors=True)
    return run


def main():
    ap = oss_run.arg_parser(__doc__, os.path.join(HERE, "leveldb.reviewed"), timeout=900)
    ap.add_argument("--attempts", type=int, default=3)
    ap.add_argument("--tests", default=",".join(DEFAULT_TESTS),
                    help="comma-separated test binaries, or 'all' (default: %(default)s)")
    args = ap.parse_args()
    t0 = time.monotonic()
    work, cache = os.path.abspath(args.work), os.path.abspath(args.cache)
    os.makedirs(work, exist_ok=True)
    cc, cxx = os.path.join(args.trapsan_bin, "trapsan-cc"), os.path.join(args.trapsan_bin, "trapsan-c++")
    if oss_run.missing_tools((cc, cxx, "clang-14", "clang++-14", "cmake", "apt-get", "dpkg-source")):
        return 1

    binaries = ALL_TESTS if args.tests == "all" else args.tests.split(",")
    unknown = [b for b in binaries if b not in ALL_TESTS]
    if unknown:
        log(f"error: unknown test binaries {unknown}; leveldb 1.23 has {ALL_TESTS}")
        return 1
    # Fetch, and the plain build, once per cache (several runs may share it: a lock).
    with oss_run.cache_lock(cache):
        src = oss_run.fetch_or_skip(PACKAGE, cache, "leveldb's suite")
        if src is None:
            return oss_run.SKIP
        version = fetch_source.debian_version(src)
        clang = subprocess.run(["clang-14", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        plain = os.path.join(cache, f"build-plain-{version}")
        if not cmake_build(src, plain, "clang-14", "clang++-14", args.jobs, f"{version} {clang}", binaries,
                           os.path.join(cache, "build-plain.log")):
            return 1
    # The trapsan build is rebuilt when the compiler plugin or the wrappers change (the runtime is a shared
    # library found through the rpath: not part of the key).
    plugin = oss_run.plugin_files(args.trapsan_bin, ["trapsan-cc", "trapsan-c++"])
    key = f"{version} {clang} {oss_run.files_key(plugin)}"
    instrumented = os.path.join(work, "build-trapsan")
    if not cmake_build(src, instrumented, cc, cxx, args.jobs, key, binaries,
                       os.path.join(work, "build-trapsan.log")):
        return 1
    log(f"{PACKAGE} {version}; builds ready after {time.monotonic() - t0:.0f} s")

    for sub in ("reports", "logs", "xml", "tmp"):
        shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
        os.makedirs(os.path.join(work, sub))
    commands = {"plain": ctest_commands(plain), "trapsan": ctest_commands(instrumented)}
    missing = [f"{f}:{b}" for f in commands for b in binaries if b not in commands[f]]
    if missing:
        log(f"error: test binaries missing after the build: {missing}")
        return 1

    runs = []
    for b in binaries:
        n = SHARDS.get(b, 1)
        for s in range(n):
            for flavor in ("trapsan", "plain"):
                runs.append(Run(flavor, b, commands[flavor][b], (s, n) if n > 1 else None, None, 1))
    runs.sort(key=lambda r: (r.binary not in SHARDS, r.flavor != "trapsan"))  # long ones first
    done = []
    phase_start = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        pending = {pool.submit(execute, r, work, args.trapsan_options, args.timeout) for r in runs}
        while pending:
            finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for f in finished:
                r = f.result()
                done.append(r)
                failed = sorted(t for t, v in (r.results or {}).items() if v == "failed")
                if r.attempt < args.attempts and r.binary != "c_test" and failed and r.status != "timeout":
                    again = Run(r.flavor, r.binary, r.command, None, ":".join(failed), r.attempt + 1)
                    pending.add(pool.submit(execute, again, work, args.trapsan_options, args.timeout))
                elif r.attempt < args.attempts and r.binary == "c_test" and r.status != 0:
                    again = Run(r.flavor, r.binary, r.command, None, None, r.attempt + 1)
                    pending.add(pool.submit(execute, again, work, args.trapsan_options, args.timeout))
    return verdict(done, binaries, work, args, version, t0)


def verdict(done, binaries, work, args, version, t0):
    problems = []
    final = {"plain": {}, "trapsan": {}}
    flaky = {"plain": {}, "trapsan": {}}
    seconds = {"plain": 0.0, "trapsan": 0.0}
    for r in sorted(done, key=lambda r: r.attempt):
        seconds[r.flavor] += r.seconds
        if r.results is None:
            problems.append(f"{r.tag}: no test results (exit status {r.status}; log {work}/logs/{r.tag}.log)")
            continue
        if r.attempt == 1 and not r.results:
            problems.append(f"{r.tag}: ran no test")
        for t, v in r.results.items():
            prev = final[r.flavor].get(t)
            if prev == "failed" and v != "failed":
                flaky[r.flavor][t] = r.attempt
            if prev is None or prev == "failed":
                final[r.flavor][t] = v
        # The exit status: a test failure gives 1; trapsan's exitcode (66) is expected when it reported.
        ok = {0, 1} | ({66} if r.flavor == "trapsan" else set())
        if r.status not in ok:
            problems.append(f"{r.tag}: exit status {r.status} (log {work}/logs/{r.tag}.log)")
        for line in r.stderr_lines:
            problems.append(f"{r.tag}: unexpected trapsan line: {line}")
    tests = sorted(set(final["plain"]) | set(final["trapsan"]))
    for t in tests:
        p, s = final["plain"].get(t, "missing"), final["trapsan"].get(t, "missing")
        if p != s:
            problems.append(f"{t}: {p} in the plain build, {s} with trapsan")
    for flavor in ("plain", "trapsan"):
        for t, attempt in sorted(flaky[flavor].items()):
            log(f"flaky in the {flavor} build: {t} failed, then passed on attempt {attempt}")

    races, summaries, review_problems = oss_run.review(os.path.join(work, "reports"), args.reviewed)
    problems += review_problems
    races_found = sum(s.get("races_found", 0) for s in summaries)
    distinct = len({reports.pair_key(race) for race in races})

    counts = {f: sum(1 for v in final[f].values() if v == "passed") for f in final}
    failed = {f: sorted(t for t, v in final[f].items() if v == "failed") for f in final}
    summary = (f"{PACKAGE} {version}: {len(binaries)} test binaries, {len(tests)} tests; passed: plain "
               f"{counts['plain']}, trapsan {counts['trapsan']}; failed: plain {failed['plain']}, trapsan "
               f"{failed['trapsan']}; trapsan reports: {len(races)} printed, {races_found} found, "
               f"{distinct} distinct; test time (sum over binaries): plain {seconds['plain']:.0f} s, "
               f"trapsan {seconds['trapsan']:.0f} s; wall {time.monotonic() - t0:.0f} s")
    log(summary)
    with open(os.path.join(work, "summary.txt"), "w") as f:
        f.write(summary + "\n" + "".join(p + "\n" for p in problems))
    for p in problems:
        log(f"PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
