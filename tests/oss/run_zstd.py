#!/usr/bin/env python3
"""zstd's multi-threaded compression, built plain and with trapsan-cc, run under TRAPSAN_OPTIONS=mode=ci.

The source is Debian 12's libzstd source package (tests/oss/fetch_source.py), cached like leveldb's. Both builds
use zstd's own Makefiles with clang-14 (-O3 -g; legacy formats, zlib, lzma and lz4 off so that no package is
needed for this test alone): the `zstd` command line tool (ZSTD_MULTITHREAD: -T starts a worker pool) and
`tests/poolTests` (zstd's thread pool: POOL_create/POOL_add/POOL_resize/POOL_free with 1-4 threads and queue
sizes 0-2). What must hold in the trapsan build:

- poolTests exits 0 and prints "PASS: all POOL tests" (it prints "FAIL: thread reduction not effective" now and
  then in either build on a loaded machine without failing: a timing check, not compared),
- `zstd -T` compression of the same input gives byte-identical frames in both builds (zstd's multi-threaded
  output depends on the parameters only, not on the number or timing of its workers), and the trapsan build
  decompresses them back to the input,
- every process exits 0 (66, trapsan's exitcode, when it reported), trapsan prints no line but the expected soft-backend warnings, and every report has a
  review in tests/oss/zstd.reviewed (reports.py).

Exit status: 0 as above; 1 a difference, a crash, an unreviewed report, a trapsan line or a build failure; 77
the source cannot be fetched and is not in the cache.
"""

import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fetch_source  # noqa: E402
import oss_run  # noqa: E402
from oss_run import log  # noqa: E402

PACKAGE = "libzstd"
# Make variables of both builds: no optional compression libraries, no legacy decoders (fewer objects).
MAKE_VARS = ["MOREFLAGS=-g", "HAVE_ZLIB=0", "HAVE_LZMA=0", "HAVE_LZ4=0", "ZSTD_LEGACY_SUPPORT=0"]
# zstd -T command lines compressed in both builds (the input: datagen -g8M, a fixed seed).
COMPRESS_ARGS = ["-1 -T2", "-3 -T4", "-6 -T2 -B512K", "-3 --long=24 -T2", "-5 -T3 --rsyncable", "-1 -T2 -B256K"]
POOL_RUNS = 3


def make_build(src, tree, cc, jobs, key, logfile):
    """A copy of the source in `tree` (made again when the key changed) with zstd, poolTests and datagen built."""
    stamp = os.path.join(tree, ".trapsan-oss-key")
    if os.path.exists(stamp) and open(stamp).read() == key:
        return True
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(src, tree, symlinks=True)
    start = time.monotonic()
    with open(logfile, "a") as out:
        for sub, targets in (("programs", ["zstd"]), ("tests", ["poolTests", "datagen"])):
            cmd = ["make", "-C", os.path.join(tree, sub), f"-j{jobs}", f"CC={cc}", *MAKE_VARS, *targets]
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                log(f"build failed: {' '.join(cmd)} (log: {logfile})")
                with open(logfile) as f:
                    sys.stdout.write("".join(f.readlines()[-40:]))
                return False
    with open(stamp, "w") as f:
        f.write(key)
    log(f"built zstd, poolTests and datagen in {tree} in {time.monotonic() - start:.0f} s")
    return True


class Runner:
    """Runs commands of the trapsan build under mode=ci and collects what goes wrong."""

    def __init__(self, work, extra_options, timeout):
        self.extra, self.timeout = extra_options, timeout
        self.problems, self.seconds, self.count = [], 0.0, 0
        self.report_dir = os.path.join(work, "reports")
        shutil.rmtree(self.report_dir, ignore_errors=True)
        os.makedirs(self.report_dir)

    def run(self, tag, cmd, stdin=None, stdout=subprocess.PIPE):
        env = oss_run.trapsan_env(os.path.join(self.report_dir, tag), self.extra)
        r = oss_run.run(cmd, env, self.timeout, stdin=stdin, stdout=stdout)
        if r.status == "timeout":
            self.problems.append(f"{tag}: timed out after {self.timeout:.0f} s: {' '.join(cmd)}")
            return None
        self.seconds += r.seconds
        self.count += 1
        for line in r.unexpected_trapsan_lines():
            self.problems.append(f"{tag}: unexpected trapsan line: {line}")
        # 66 is trapsan's exitcode after a report: the reports are then reviewed below.
        if r.status not in (0, 66):
            self.problems.append(f"{tag}: exit status {r.status} (expected 0): {' '.join(cmd)}\n" + r.stderr[-1500:])
        return r


def main():
    ap = oss_run.arg_parser(__doc__, os.path.join(HERE, "zstd.reviewed"), timeout=300)
    args = ap.parse_args()
    t0 = time.monotonic()
    work, cache = os.path.abspath(args.work), os.path.abspath(args.cache)
    os.makedirs(work, exist_ok=True)
    cc = os.path.join(os.path.abspath(args.trapsan_bin), "trapsan-cc")
    if oss_run.missing_tools((cc, "clang-14", "make", "apt-get", "dpkg-source")):
        return 1
    clang = subprocess.run(["clang-14", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    with oss_run.cache_lock(cache):
        src = oss_run.fetch_or_skip(PACKAGE, cache, "zstd")
        if src is None:
            return oss_run.SKIP
        version = fetch_source.debian_version(src)
        plain = os.path.join(cache, f"zstd-plain-{version}")
        if not make_build(src, plain, "clang-14", args.jobs, oss_run.files_key([], f"{version} {clang} {MAKE_VARS}"),
                          os.path.join(cache, "zstd-plain.log")):
            return 1
    key = oss_run.files_key(oss_run.plugin_files(args.trapsan_bin, ["trapsan-cc"]), f"{version} {clang} {MAKE_VARS}")
    tree = os.path.join(work, "zstd-trapsan")
    if not make_build(src, tree, cc, args.jobs, key, os.path.join(work, "build-trapsan.log")):
        return 1
    build_s = time.monotonic() - t0

    runner = Runner(work, args.trapsan_options, args.timeout)
    # zstd's thread-pool test.
    for i in range(POOL_RUNS):
        r = runner.run(f"pool{i}", [os.path.join(tree, "tests", "poolTests")])
        if r is not None and b"PASS: all POOL tests" not in r.stdout:
            runner.problems.append(f"pool{i}: no 'PASS: all POOL tests' line:\n" + r.stdout.decode()[-800:])
    # Multi-threaded compression: the same frames as the plain build, and back to the input.
    data = os.path.join(work, "input.bin")
    with open(data, "wb") as f:
        subprocess.run([os.path.join(plain, "tests", "datagen"), "-g8M", "-s7"], stdout=f, check=True,
                       stderr=subprocess.DEVNULL)
    with open(data, "rb") as f:
        original = f.read()
    for i, a in enumerate(COMPRESS_ARGS):
        cmd_args = a.split() + ["-q", "-c", data]
        expected = subprocess.run([os.path.join(plain, "programs", "zstd"), *cmd_args], capture_output=True,
                                  check=True).stdout
        r = runner.run(f"zstd{i}", [os.path.join(tree, "programs", "zstd"), *cmd_args])
        if r is None:
            continue
        if r.stdout != expected:
            runner.problems.append(f"zstd {a}: the trapsan build's frames differ from the plain build's "
                                   f"({len(r.stdout)} vs {len(expected)} bytes)")
            continue
        frames = os.path.join(work, f"out{i}.zst")
        with open(frames, "wb") as f:
            f.write(r.stdout)
        d = runner.run(f"unzstd{i}", [os.path.join(tree, "programs", "zstd"), "-d", "-q", "-c", "-T2", frames])
        if d is not None and d.stdout != original:
            runner.problems.append(f"zstd -d of '{a}' frames: not the input")

    races, _, review_problems = oss_run.review(runner.report_dir, args.reviewed)
    problems = runner.problems + review_problems
    log(f"{runner.count} trapsan-build runs ({POOL_RUNS} poolTests, {len(COMPRESS_ARGS)} zstd -T compressions "
        f"and their decompressions) in {runner.seconds:.0f} s; {len(races)} reports; "
        f"build {build_s:.0f} s, total {time.monotonic() - t0:.0f} s")
    for p in problems:
        log("FAIL: " + p)
    if problems:
        return 1
    log("PASS: same frames as the plain build, poolTests passed, every report reviewed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
