#!/usr/bin/env python3
"""Tests of tools/trapsan-run and tools/trapsan-report (docs/ci.md).

    tools_test.py TOOLS_DIR PROGRAMS_DIR [unittest args...]

Real programs from tests/programs run under trapsan: racy_counter (two
threads racing on a counter through the manual API; `both`: each side
checks, so the soft backend finds it too) and mutex_counter (race-free).
Detection samples, so a run that must find the race is given a few runs
(the verdict does not depend on speed: the program stops at its first
report). Synthetic report files check the merge exactly.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

TOOLS = PROGRAMS = None

RACY_OPTIONS = "sample_rate=2:delay_us=500:max_overhead=0"

TEXT_REPORT = """\
some program output
==================
WARNING: trapsan: data race in reader / writer (pid={pid})
  Write of size 4 at 0x55d0c0a0e014 by thread T1 (tid=4244):
    #0 writer /src/racy.c:12 (racy+0x1234)
    #1 thread_main /src/racy.c:20 (racy+0x1290)
  Concurrent read of size 4 at 0x55d0c0a0e014 by thread T2 (tid=4245):
    #0 reader /src/racy.c:16 (racy+0x12a0)
    #1 start_thread (libc.so.6+0x8a0)
  Location is global 'counter' of size 4 at 0x55d0c0a0e014 (racy+0x4014)
  Value changed during the window: 0x1 -> 0x2
  Thread T1 'racy' (tid=4244, running) created by thread T0 at:
    #0 main /src/racy.c:30 (racy+0x1300)
  Thread T2 'racy' (tid=4245, finished) created by thread T0 at:
    #0 main /src/racy.c:31 (racy+0x1310)
SUMMARY: trapsan: data race /src/racy.c:12 in writer
==================
"""

# The same pair seen from the other side (the reader sampled).
TEXT_REPORT_SWAPPED = """\
==================
WARNING: trapsan: data race in reader / writer (pid={pid})
  Read of size 4 at 0x55d0c0a0e014 by thread T2 (tid=4245):
    #0 reader /src/racy.c:16 (racy+0x12a0)
  Concurrent write at 0x55d0c0a0e014 by thread T1 (tid=4244):
    #0 writer /src/racy.c:12 (racy+0x1234)
  Location is global 'counter' of size 4 at 0x55d0c0a0e014 (racy+0x4014)
SUMMARY: trapsan: data race /src/racy.c:16 in reader
==================
"""

UNKNOWN_ORIGIN_REPORT = """\
==================
WARNING: trapsan: data race in poller / <unknown origin> (pid={pid})
  Read of size 8 at 0x7f0000001000 by thread T3 (tid=5000):
    #0 poller /src/poll.c:7 (poll+0x100)
  The value changed during the window but no other access was trapped (race at unknown origin).
  Value changed during the window: 0x0 -> 0x1
SUMMARY: trapsan: data race /src/poll.c:7 in poller
==================
"""


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def tool(name):
    return os.path.join(TOOLS, name)


def program(name):
    return os.path.join(PROGRAMS, name)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class ReportMergeTest(unittest.TestCase):
    """trapsan-report over synthetic files: 3 runs, several processes."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="trapsan-report-test.")
        d = self.dir.name
        # run-1: two processes, both with the reader/writer race.
        write(os.path.join(d, "run-1", "trapsan.101"), TEXT_REPORT.format(pid=101))
        write(os.path.join(d, "run-1", "trapsan.102"),
              TEXT_REPORT_SWAPPED.format(pid=102))
        # run-2: nothing (a process that reported nothing writes no file).
        os.makedirs(os.path.join(d, "run-2"))
        # run-3: the same race twice in one file, and one of unknown origin.
        write(os.path.join(d, "run-3", "trapsan.301"),
              TEXT_REPORT.format(pid=301) + TEXT_REPORT.format(pid=301)
              + UNKNOWN_ORIGIN_REPORT.format(pid=301))
        self.runs = [os.path.join(d, "run-%d" % k) for k in (1, 2, 3)]

    def tearDown(self):
        self.dir.cleanup()

    def test_text_summary_counts_and_runs(self):
        r = run([tool("trapsan-report")] + self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("2 distinct data race(s), 5 report(s), in 3 run(s)", out)
        self.assertIn("#1 data race in reader / writer", out)
        self.assertIn("reported 4 time(s) in 2 of 3 run(s): run-1, run-3", out)
        self.assertIn("write of size 4 /src/racy.c:12 in writer", out)
        self.assertIn("concurrent read of size 4 /src/racy.c:16 in reader", out)
        self.assertIn("location: global 'counter' of size 4", out)
        self.assertIn("#2 data race in poller / <unknown origin>", out)
        self.assertIn("reported 1 time(s) in 1 of 3 run(s): run-3", out)
        # Creation stacks are not taken for the accesses' frames.
        self.assertNotIn("main", out)

    def test_fail_on_race(self):
        r = run([tool("trapsan-report"), "--fail-on-race"] + self.runs)
        self.assertEqual(r.returncode, 1)
        r = run([tool("trapsan-report"), "--fail-on-race", self.runs[1]])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 distinct data race(s), 0 report(s), in 1 run(s)",
                      r.stdout)

    def test_markdown(self):
        r = run([tool("trapsan-report"), "--format", "markdown"] + self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("| # | Data race | Reports | Runs"))
        self.assertEqual(len(lines), 4)
        self.assertIn("| 1 | reader / writer | 4 | 2 of 3 (run-1, run-3) |",
                      lines[2])

    def test_sarif(self):
        out = os.path.join(self.dir.name, "out.sarif")
        r = run([tool("trapsan-report"), "--format", "sarif", "-o", out]
                + self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            doc = json.load(f)
        check_sarif(self, doc)
        results = doc["runs"][0]["results"]
        self.assertEqual(len(results), 2)
        first = results[0]
        self.assertEqual(first["properties"]["count"], 4)
        self.assertEqual(first["properties"]["runs"], ["run-1", "run-3"])
        self.assertEqual(first["properties"]["processes"], 3)
        loc = first["locations"][0]["physicalLocation"]
        self.assertEqual(loc["artifactLocation"]["uri"], "file:///src/racy.c")
        self.assertEqual(loc["region"]["startLine"], 12)
        related = first["relatedLocations"][0]["physicalLocation"]
        self.assertEqual(related["region"]["startLine"], 16)
        flows = first["codeFlows"][0]["threadFlows"]
        self.assertEqual(len(flows), 2)  # both stacks
        self.assertEqual(len(flows[0]["locations"]), 2)
        self.assertNotIn("relatedLocations", results[1])  # unknown origin

    def test_sarif_names_an_artifact_for_every_location(self):
        # Code scanning refuses a whole log with a result location that names
        # no artifact: a top frame without source points at the innermost
        # frame that has one, a stack without any at its module; paths are
        # URIs (percent-encoded, relative ones kept relative).
        d = self.dir.name
        lib = {"function": "memcpy", "file": None, "line": None,
               "module": "libc.so.6", "offset": "0x10"}
        race = {"type": "race", "schema_version": 1, "pid": 5,
                "functions": ["memcpy", "reader"], "unknown_origin": False,
                "sampled": {"kind": "write", "size": 8, "stack": [
                    lib, {"function": "copy_in", "file": "/src/my dir/a.c",
                          "line": 7, "module": "prog", "offset": "0x20"}]},
                "concurrent": {"kind": "read", "size": 8, "stack": [
                    {"function": "reader", "file": "src/b.c", "line": 9,
                     "module": "prog", "offset": "0x30"}]}}
        bare = dict(race, functions=["prog+0x40", "prog+0x50"],
                    sampled={"kind": "write", "stack": [
                        {"module": "prog", "offset": "0x40"}]},
                    concurrent={"kind": "read", "stack": [
                        {"module": "prog", "offset": "0x50"}]})
        write(os.path.join(d, "nosrc", "trapsan.5.jsonl"),
              json.dumps(race) + "\n" + json.dumps(bare) + "\n")
        out = os.path.join(d, "nosrc.sarif")
        r = run([tool("trapsan-report"), "--format", "sarif", "-o", out,
                 os.path.join(d, "nosrc")])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            doc = json.load(f)
        check_sarif(self, doc)
        first, second = doc["runs"][0]["results"]
        loc = first["locations"][0]["physicalLocation"]
        self.assertEqual(loc["artifactLocation"]["uri"], "file:///src/my%20dir/a.c")
        self.assertEqual(loc["region"]["startLine"], 7)
        self.assertEqual(first["relatedLocations"][0]["physicalLocation"]
                         ["artifactLocation"]["uri"], "src/b.c")
        self.assertEqual(second["locations"][0]["physicalLocation"]
                         ["artifactLocation"]["uri"], "prog")
        self.assertNotIn("region", second["locations"][0]["physicalLocation"])

    def test_json_lines_schema(self):
        # docs/report-format.md: "race" objects, then a "summary" whose
        # counts include the duplicates not printed.
        d = self.dir.name
        frame = {"index": 0, "pc": "0x1", "function": "writer",
                 "file": "/src/a.c", "line": 3, "module": "a",
                 "offset": "0x10"}
        race = {"type": "race", "schema_version": 1, "tool": "trapsan",
                "pid": 9, "title": "reader / writer",
                "functions": ["reader", "writer"], "unknown_origin": False,
                "sampled": {"kind": "write", "size": 8, "thread": 1,
                            "tid": 10, "stack": [frame]},
                "concurrent": {"kind": "read", "size": 8, "thread": 2,
                               "tid": 11, "stack": [dict(frame,
                                                         function="reader",
                                                         line=9)]},
                "location": {"kind": "global", "address": "0x4000",
                             "description": "global 'x' of size 8"}}
        uo = dict(race, functions=["poller", "<unknown origin>"],
                  unknown_origin=True, concurrent=None,
                  sampled=dict(race["sampled"], stack=[dict(
                      frame, function="poller")]))
        summary = {"type": "summary", "pid": 9, "races_found": 7,
                   "races": [{"title": "reader / writer",
                              "functions": ["reader", "writer"],
                              "count": 6, "printed": True},
                             {"title": "poller / <unknown origin>",
                              "functions": ["poller", "<unknown origin>"],
                              "count": 1, "printed": True}]}
        write(os.path.join(d, "json2", "trapsan.9.json"),
              "\n".join(json.dumps(x) for x in (race, uo, summary)) + "\n")
        r = run([tool("trapsan-report"), os.path.join(d, "json2")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 distinct data race(s), 7 report(s), in 1 run(s)",
                      r.stdout)
        self.assertIn("#1 data race in reader / writer\n"
                      "   reported 6 time(s) in 1 of 1 run(s): json2", r.stdout)
        self.assertIn("write of size 8 /src/a.c:3 in writer", r.stdout)
        self.assertIn("concurrent read of size 8 /src/a.c:9 in reader",
                      r.stdout)
        self.assertIn("location: global 'x' of size 8", r.stdout)
        self.assertIn("#2 data race in poller / <unknown origin>", r.stdout)

    def test_json_lines_input(self):
        d = self.dir.name
        obj = {"kind": "data_race", "pid": 7,
               "accesses": [
                   {"kind": "write", "size": 8, "thread": "T1",
                    "stack": [{"function": "writer", "file": "/src/a.c",
                               "line": 3, "module": "a", "offset": "0x10"}]},
                   {"kind": "read", "size": 8, "thread": "T2",
                    "stack": [{"function": "reader", "file": "/src/a.c",
                               "line": 9}]}]}
        write(os.path.join(d, "json", "trapsan.7.json"),
              json.dumps(obj) + "\n" + json.dumps(obj) + "\n")
        r = run([tool("trapsan-report"), os.path.join(d, "json"),
                 self.runs[0]])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("#1 data race in reader / writer", r.stdout)
        self.assertIn("reported 4 time(s) in 2 of 2 run(s): json, run-1",
                      r.stdout)

    def test_bad_input_is_a_clear_error(self):
        bad = os.path.join(self.dir.name, "bad.json")
        write(bad, '{"accesses": [\n')
        r = run([tool("trapsan-report"), bad])
        self.assertEqual(r.returncode, 2)
        self.assertIn("trapsan-report: error: %s:1: not JSON" % bad, r.stderr)
        r = run([tool("trapsan-report"), "/nonexistent/dir"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such file or directory: /nonexistent/dir", r.stderr)


SARIF_SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                            "integration", "data",
                            "sarif-2.1.0-subset.schema.json")


def check_sarif(test, doc):
    """The whole document against tests/integration's SARIF 2.1.0 schema
    (written from the spec; python3-jsonschema, which ./dev installs), what
    GitHub code scanning requires besides (check_report.py: an artifact URI
    for every result location, URI-references), and the parts code scanning
    shows."""
    import jsonschema
    sys.path.insert(0, os.path.dirname(SARIF_SCHEMA) + "/..")
    import check_report
    with open(SARIF_SCHEMA) as f:
        schema = json.load(f)
    errors = ["%s: %s" % ("/".join(map(str, e.path)), e.message)
              for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
    test.assertEqual(errors, [])
    test.assertEqual(check_report.code_scanning_problems(doc), [])
    test.assertEqual(doc["version"], "2.1.0")
    test.assertIn("sarif", doc["$schema"])
    test.assertEqual(len(doc["runs"]), 1)
    driver = doc["runs"][0]["tool"]["driver"]
    test.assertEqual(driver["name"], "trapsan")
    rule_ids = [r["id"] for r in driver["rules"]]
    for result in doc["runs"][0]["results"]:
        test.assertIn(result["ruleId"], rule_ids)
        test.assertIn(result["level"], ("none", "note", "warning", "error"))
        test.assertTrue(result["message"]["text"])
        for loc in result["locations"] + result.get("relatedLocations", []):
            phys = loc["physicalLocation"]
            test.assertTrue(phys["artifactLocation"]["uri"])
            if "region" in phys:
                test.assertGreaterEqual(phys["region"]["startLine"], 1)
        for flow in result["codeFlows"]:
            for tf in flow["threadFlows"]:
                test.assertGreaterEqual(len(tf["locations"]), 1)
                for tfl in tf["locations"]:
                    test.assertIn("physicalLocation", tfl["location"])


class RunTest(unittest.TestCase):
    """trapsan-run over real programs."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="trapsan-run-test.")
        self.env = dict(os.environ)
        self.env.pop("TRAPSAN_OPTIONS", None)

    def tearDown(self):
        self.dir.cleanup()

    def trapsan_run(self, args, command, env=None):
        return run([tool("trapsan-run")] + args + ["--"] + command,
                   env=env or self.env)

    def test_race_free_runs_pass_the_status_through(self):
        logs = os.path.join(self.dir.name, "logs")
        # A previous invocation's runs are replaced, not merged.
        write(os.path.join(logs, "run-7", "trapsan.1"), TEXT_REPORT.format(pid=1))
        r = self.trapsan_run(["--runs", "3", "--log-dir", logs],
                             [program("mutex_counter"), "300"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 distinct data race(s), 0 report(s), in 3 run(s)",
                      r.stderr)
        self.assertEqual(sorted(os.listdir(logs)), ["run-1", "run-2", "run-3"])
        # Not a terminal: no progress line.
        self.assertNotIn("\r", r.stderr)
        self.assertNotIn("[trapsan-run]", r.stderr)

    def test_progress_line_on_a_terminal(self):
        import pty
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([tool("trapsan-run"), "--runs", "2", "--",
                                  "true"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=slave,
                                 env=self.env)
            os.close(slave)
            out = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                out += chunk
            p.wait()
        finally:
            os.close(master)
        self.assertEqual(p.returncode, 0)
        text = out.decode()
        self.assertIn("[trapsan-run] run 1/2: 0 distinct race(s), "
                      "0 failed run(s)", text)
        self.assertIn("[trapsan-run] run 2/2", text)
        self.assertIn("\r\033[K", text)  # the line is cleared before the summary

    def test_race_exits_with_trapsan_exitcode_and_merges_processes(self):
        # Two processes per run (a shell starts both): each writes its own
        # file in the run's directory.
        logs = os.path.join(self.dir.name, "logs")
        racy = "%s both 3000" % program("racy_counter")
        r = self.trapsan_run(
            ["--runs", "3", "--options", RACY_OPTIONS, "--log-dir", logs],
            ["sh", "-c", "%s >/dev/null & %s >/dev/null; wait" % (racy, racy)])
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("data race in racy_reader / racy_writer", r.stderr)
        self.assertIn("in 3 run(s)", r.stderr)
        files = [f for k in (1, 2, 3)
                 for f in os.listdir(os.path.join(logs, "run-%d" % k))]
        self.assertGreaterEqual(len(files), 2)
        # trapsan-report over the kept runs gives the same race, SARIF too.
        rep = run([tool("trapsan-report"), "--format", "sarif"]
                  + [os.path.join(logs, "run-%d" % k) for k in (1, 2, 3)])
        self.assertEqual(rep.returncode, 0, rep.stderr)
        doc = json.loads(rep.stdout)
        check_sarif(self, doc)
        results = doc["runs"][0]["results"]
        # The two-sided race, and maybe one at unknown origin (a soft
        # window sees a write of an unchecked moment as a value change).
        pair = [x for x in results if x["partialFingerprints"]
                ["trapsanRace/v1"] == "racy_reader / racy_writer"]
        self.assertEqual(len(pair), 1, rep.stdout)
        for x in results:
            self.assertIn(x["partialFingerprints"]["trapsanRace/v1"],
                          ("racy_reader / racy_writer",
                           "racy_reader / <unknown origin>",
                           "racy_writer / <unknown origin>"))
        self.assertGreaterEqual(pair[0]["properties"]["processes"], 2)
        self.assertIn("race_kernel.c",
                      pair[0]["locations"][0]["physicalLocation"]
                      ["artifactLocation"]["uri"])

    def test_summary_formats_and_output_file(self):
        # --format sarif --output FILE: the summary is a valid SARIF file
        # (nothing of it on stderr); --format markdown: the table on stderr.
        racy = [program("racy_counter"), "both", "3000"]
        out = os.path.join(self.dir.name, "summary.sarif")
        r = self.trapsan_run(["--runs", "2", "--options", RACY_OPTIONS,
                              "--format", "sarif", "--output", out], racy)
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertNotIn('"version"', r.stderr)
        with open(out) as f:
            doc = json.load(f)
        check_sarif(self, doc)
        self.assertIn("racy_reader / racy_writer",
                      [x["partialFingerprints"]["trapsanRace/v1"]
                       for x in doc["runs"][0]["results"]])
        r = self.trapsan_run(["--runs", "2", "--options", RACY_OPTIONS,
                              "--format", "markdown"], racy)
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("| # | Data race | Reports | Runs | Access | "
                      "Concurrent access |", r.stderr)
        self.assertRegex(r.stderr, r"\| racy_reader / racy_writer \| \d+ \| "
                         r"[12] of 2 ")

    def test_exitcode_option_is_followed(self):
        racy = [program("racy_counter"), "both", "3000"]
        r = self.trapsan_run(["--runs", "2", "--options",
                              RACY_OPTIONS + ":exitcode=23"], racy)
        self.assertEqual(r.returncode, 23, r.stderr)

    def test_first_failing_run_status_wins(self):
        marker = os.path.join(self.dir.name, "count")
        # Run 1 exits 0, run 2 exits 3, run 3 exits 4.
        script = ('n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); '
                  'echo $n > %s; [ $n -eq 1 ] && exit 0; exit $((n+1))'
                  % (marker, marker))
        r = self.trapsan_run(["--runs", "3"], ["sh", "-c", script])
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("2 of 3 run(s) failed; the first with status 3",
                      r.stderr)

    def test_fail_fast_and_signals(self):
        r = self.trapsan_run(["--runs", "5", "--fail-fast"],
                             ["sh", "-c", "kill -TERM $$"])
        self.assertEqual(r.returncode, 128 + 15, r.stderr)
        self.assertIn("in 1 run(s)", r.stderr)

    def test_options_reach_the_program(self):
        r = self.trapsan_run(["--runs", "1", "--options", "verbosity=0"],
                             ["sh", "-c", 'echo "OPTS=$TRAPSAN_OPTIONS"'],
                             env=dict(self.env, TRAPSAN_OPTIONS="max_reports=5"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"OPTS=mode=ci:max_reports=5:verbosity=0:"
                         r"format=json:log_path=\S+/run-1/trapsan\n")

    def test_quiet_prints_no_clean_summary(self):
        r = self.trapsan_run(["--runs", "2", "--quiet"], ["true"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        # A race is summarized all the same.
        r = self.trapsan_run(["--runs", "2", "--quiet", "--options",
                              RACY_OPTIONS],
                             [program("racy_counter"), "both", "3000"])
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("distinct data race(s)", r.stderr)

    def test_preload(self):
        # --preload LIB, else $TRAPSAN_RUNTIME_LIBRARY: the program runs with
        # the library first in LD_PRELOAD (the environment's after it), and
        # trapsan is loaded in it (its start-up line with verbosity=1).
        lib = os.environ.get("TRAPSAN_TEST_RUNTIME")
        if not lib:
            self.skipTest("TRAPSAN_TEST_RUNTIME (libtrapsan.so) not given")
        show = ["sh", "-c", 'echo "LD=$LD_PRELOAD"']
        env = dict(self.env, LD_PRELOAD="libextra.so")
        r = self.trapsan_run(["--runs", "1", "--preload", lib, "--options",
                              "verbosity=1"], show, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("LD=%s:libextra.so\n" % os.path.abspath(lib), r.stdout)
        self.assertIn("trapsan: started", r.stderr)
        r = self.trapsan_run(["--runs", "1", "--preload"], show,
                             env=dict(self.env, TRAPSAN_RUNTIME_LIBRARY=lib))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("LD=%s\n" % os.path.abspath(lib), r.stdout)
        r = self.trapsan_run(["--runs", "1", "--preload",
                              "/nonexistent/libtrapsan.so"], show)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--preload: no libtrapsan.so found", r.stderr)

    def test_usage_errors(self):
        r = self.trapsan_run(["--runs", "0"], ["true"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--runs must be at least 1", r.stderr)
        r = run([tool("trapsan-run"), "--runs", "1"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("no program given", r.stderr)
        r = self.trapsan_run([], ["/nonexistent/prog"])
        self.assertEqual(r.returncode, 127)
        self.assertIn("program not found: /nonexistent/prog", r.stderr)


if __name__ == "__main__":
    TOOLS, PROGRAMS = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
