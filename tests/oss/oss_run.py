"""What the oss tests (run_leveldb.py, run_zstd.py) share: their command line, the tools check, the fetch of a
Debian source package under the cache's lock, build keys, the runner of one command with trapsan's options, the
check of trapsan's lines on stderr, and the review of the JSON reports.

Each test builds a real project plain and with trapsan-cc/trapsan-c++, runs its trapsan build under
TRAPSAN_OPTIONS=mode=ci:format=json:log_path=..., and fails on a difference, a crash, a timeout, an unexpected
trapsan line or an unreviewed report (reports.py). Exit status 77 (SKIP) when the source cannot be fetched.
"""

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time

import fetch_source
import reports

SKIP = 77
# What trapsan prints in every run on a host without debug-register traps (backend=auto picks soft).
EXPECTED_TRAPSAN_LINES = ("trapsan: WARNING: hardware watchpoints", "trapsan: WARNING: backend=auto")
# A line of trapsan's: "trapsan: ..." (its messages) or "WARNING: trapsan: ..." (a text report).
_TRAPSAN_LINE = re.compile(r"(^|\s)trapsan:")


def log(msg):
    print(f"oss: {msg}", flush=True)


def files_key(paths, extra=""):
    """A short SHA-256 of `extra`, then each path's name and contents (missing files count by name only): the key
    a cached build is made again for when it changes."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(p.encode())
        if os.path.exists(p):
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def plugin_files(trapsan_bin, wrappers):
    """The files a trapsan build of the project depends on besides its source: the wrappers (trapsan-cc, ...)
    and the compiler plugins. The runtime is a shared library found through the rpath: not part of the key."""
    real_bin = os.path.realpath(trapsan_bin)
    files = [os.path.join(trapsan_bin, w) for w in wrappers]
    files += [os.path.join(real_bin, "..", "lib", p) for p in ("TrapsanPlugin.so", "TrapsanClangPlugin.so")]
    return [os.path.realpath(p) for p in files]


def arg_parser(description, reviewed, timeout):
    """The options every oss test takes; a test adds its own."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trapsan-bin", required=True, help="directory of trapsan-cc and trapsan-c++")
    ap.add_argument("--work", required=True, help="the trapsan build of the project and this run's files")
    ap.add_argument("--cache", default=os.environ.get("TRAPSAN_OSS_CACHE", "/var/tmp/trapsan-oss-cache"),
                    help="fetched source and the plain build (default %(default)s, env TRAPSAN_OSS_CACHE)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=timeout, help="seconds per command (default %(default)s)")
    ap.add_argument("--reviewed", default=reviewed, help="the reviews of reports (default %(default)s)")
    ap.add_argument("--trapsan-options", default="", help="appended to mode=ci:format=json:log_path=...")
    return ap


def missing_tools(tools):
    """Logs and returns the tools that are not found in PATH (or as a path)."""
    missing = [t for t in tools if not shutil.which(t)]
    for t in missing:
        log(f"error: {t} not found")
    return missing


@contextlib.contextmanager
def cache_lock(cache):
    """Serializes the runs sharing a cache (fetch and plain build)."""
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def fetch_or_skip(package, cache, what):
    """The extracted source of Debian's `package` (fetched once into `cache`; hold cache_lock), or None after
    printing the SKIP line when it can be neither fetched nor found there."""
    try:
        return fetch_source.fetch(package, cache, log)
    except (fetch_source.FetchImpossible, subprocess.TimeoutExpired, OSError) as e:
        print(f"SKIP: oss: cannot fetch Debian's {package} source package, so {what} is not run: {e}", flush=True)
        return None


def trapsan_env(report_prefix, extra_options, base=None):
    """The environment of a trapsan-build run: mode=ci, JSON reports to report_prefix.PID.jsonl."""
    env = dict(os.environ if base is None else base)
    env["TRAPSAN_OPTIONS"] = f"mode=ci:format=json:log_path={report_prefix}" + (
        ":" + extra_options if extra_options else "")
    return env


def plain_env(base=None):
    """The environment of a plain-build run: no TRAPSAN_OPTIONS."""
    env = dict(os.environ if base is None else base)
    env.pop("TRAPSAN_OPTIONS", None)
    return env


class Result:
    """One command's outcome: status (the exit status, negative for a signal, or "timeout"), stdout (bytes, None
    when it went elsewhere), stderr (text) and seconds."""

    def __init__(self, status, stdout, stderr, seconds):
        self.status, self.stdout, self.stderr, self.seconds = status, stdout, stderr, seconds

    def trapsan_lines(self):
        return [line for line in self.stderr.splitlines() if _TRAPSAN_LINE.search(line)]

    def unexpected_trapsan_lines(self):
        """trapsan's lines on stderr but the expected soft-backend warnings (an ERROR line is never expected)."""
        return [line for line in self.trapsan_lines()
                if "ERROR" in line or not line.startswith(EXPECTED_TRAPSAN_LINES)]


def run(cmd, env, timeout, cwd=None, stdin=None, stdout=subprocess.PIPE):
    """Runs `cmd` (stderr captured), at most `timeout` seconds."""
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                           timeout=timeout)
        status, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        status, out, err = "timeout", e.stdout, e.stderr
    return Result(status, out, (err or b"").decode(errors="replace"), time.monotonic() - start)


def review(report_dir, reviewed):
    """Reads the JSON reports in `report_dir` and matches each race's function pair with a review in the file
    `reviewed`. Returns (races, summaries, problems); logs each pair and prints its first report."""
    races, summaries, garbage = reports.collect(report_dir)
    problems = [f"not JSON in a report file: {g}" for g in garbage]
    reviews = reports.load_reviews(reviewed) if os.path.exists(reviewed) else {}
    by_pair = {}
    for race in races:
        by_pair.setdefault(reports.pair_key(race), []).append(race)
    for pair, rs in sorted(by_pair.items()):
        r = reviews.get(pair)
        log(f"report [{pair}]: {len(rs)} report(s) ({'reviewed: ' + r['verdict'] if r else 'NOT REVIEWED'})")
        print(reports.describe(rs[0]), flush=True)
        if not r:
            problems.append(f"unreviewed trapsan report: [{pair}] (add a review to {reviewed})")
    return races, summaries, problems
