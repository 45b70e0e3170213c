#!/usr/bin/env python3
"""Tests of include/trapsan/annotations.h and runtime/abi/annotations.cpp.

    annotations_test.py ANNOTATIONS_PROG ANNOTATIONS_CPP ANNOTATIONS_PLAIN
                        ANNOTATIONS_PLAIN_CPP

Each case of annotations_prog (see its header) runs in mode=ci: every
assertion opens its window. Cases that must report are given a few attempts
(detection samples the intruder's timing, not the machine's speed: each
attempt ends at the first report); a report must name the asserting
function and the intruder's, each with its stack. Cases that must stay
silent run their 400 assertions or samples with no report and exit 0.
Works with either backend: the soft one (instrumented accesses check the
assertion's window) and hardware watchpoints (in the lab guest).
"""

import os
import re
import subprocess
import sys
import unittest

PROG = CPP = PLAIN = PLAIN_CPP = None
OPTIONS = "mode=ci:max_overhead=0:delay_us=300"
ATTEMPTS = 6


def run(cmd, options=OPTIONS):
    env = dict(os.environ, TRAPSAN_OPTIONS=options)
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=120)


class AnnotationsTest(unittest.TestCase):

    def expect_report(self, cmd, first, second):
        # A report of "<unknown origin>" (the window saw the value change,
        # no trap or check of the intruder's came with it) is a true report
        # without the intruder's stack: that attempt does not count, another
        # one is made. In the lab guest (qemu TCG, 2 vCPUs), bits-same ended
        # so in 3 of 20 runs until a7d502a (a masked window's late traps
        # judged without its mask, and writes after the disarm counted as
        # the window's: docs/lab.md); the retry stays for what the guest's
        # timing may still do.
        for _ in range(ATTEMPTS):
            r = run(cmd)
            if r.returncode == 66 and "<unknown origin>" not in r.stderr:
                break
            if r.returncode == 66:
                continue
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("REPORTS=0", r.stdout)
        self.assertEqual(r.returncode, 66,
                         "no report in %d attempts: %s" % (ATTEMPTS, r.stderr))
        m = re.search(r"WARNING: trapsan: data race in (\S+) / (\S+)",
                      r.stderr)
        self.assertTrue(m, r.stderr)
        self.assertEqual(sorted(m.groups()), sorted([first, second]), r.stderr)
        # Both accesses with a stack: #0 frames of each function.
        self.assertRegex(r.stderr, r"#0 %s " % re.escape(first))
        self.assertRegex(r.stderr, r"#0 %s " % re.escape(second))
        self.assertIn("Concurrent", r.stderr)
        return r

    def expect_silent(self, cmd):
        r = run(cmd)
        self.assertEqual(r.returncode, 0, r.stderr)
        if os.environ.get("TRAPSAN_REQUIRE_HW") == "1" and cmd[0] == PROG:
            # In the lab guest: the hardware path, where every access is
            # seen, must be the one that stayed silent.
            self.assertIn("BACKEND=hw", r.stdout)
        self.assertNotIn("WARNING: trapsan", r.stderr)
        self.assertIn("REPORTS=0", r.stdout)
        return r

    def test_exclusive_writer_reports_a_writer(self):
        self.expect_report([PROG, "writer-vs-write"], "owner_asserts_writer",
                           "intruder_writes_counter")

    def test_exclusive_writer_allows_readers(self):
        r = self.expect_silent([PROG, "writer-vs-read"])
        self.assertIn("ROUNDS=400", r.stdout)

    def test_exclusive_access_reports_a_reader(self):
        self.expect_report([PROG, "access-vs-read"], "owner_asserts_access",
                           "intruder_reads_counter")

    def test_exclusive_bits_allows_other_bytes(self):
        r = self.expect_silent([PROG, "bits-other"])
        self.assertIn("ROUNDS=400", r.stdout)

    def test_exclusive_bits_reports_its_bits(self):
        self.expect_report([PROG, "bits-same"], "owner_asserts_bits",
                           "intruder_writes_byte")

    def test_exclusive_bits_allows_other_bits_of_its_bytes(self):
        # KCSAN's semantics: the intruder writes the very byte holding the
        # mask's bits but changes only the others. Seen (MASKED: judged by
        # value and dropped), never reported.
        r = self.expect_silent([PROG, "bits-other-bits"])
        self.assertIn("ROUNDS=400", r.stdout)
        self.assertGreater(int(re.search(r"MASKED=(\d+)", r.stdout).group(1)),
                           0, r.stdout)

    def test_scoped_assertion(self):
        self.expect_report([PROG, "scoped"], "owner_scoped",
                           "intruder_writes_counter")

    def test_scoped_assertion_watches_the_whole_scope(self):
        # The intruder's one write comes in the middle of the scope, after
        # the owner's own write and long after the entry's stall: only a
        # window held for the whole scope sees it. One run, no retries.
        for case, owner, intruder in [
                ("scoped-middle", "owner_scope_writer",
                 "intruder_writes_counter"),
                ("scoped-access-middle", "owner_scope_access",
                 "intruder_reads_counter")]:
            r = run([PROG, case])
            self.assertEqual(r.returncode, 66, case + ": " + r.stderr)
            self.assertIn("ROUNDS=1\n", r.stdout, case)
            m = re.search(r"WARNING: trapsan: data race in (\S+) / (\S+)",
                          r.stderr)
            self.assertTrue(m, r.stderr)
            self.assertEqual(sorted(m.groups()), sorted([owner, intruder]),
                             r.stderr)
            self.assertRegex(r.stderr, r"#0 %s " % owner)
            self.assertRegex(r.stderr, r"#0 %s " % intruder)
            # The owner's own write in its scope is no race.
            self.assertNotIn("owner_writes_own", r.stderr)

    def test_scoped_assertion_allows_what_it_should(self):
        # A reader under an exclusive-writer scope; a write that leaves the
        # mask's bits under a bits scope whose owner changes them itself.
        for case in ["scoped-read-middle", "scoped-bits-other"]:
            r = self.expect_silent([PROG, case])
            self.assertIn("ROUNDS=400", r.stdout, case)

    def test_scoped_bits_reports_a_change_of_its_bits(self):
        r = run([PROG, "scoped-bits-same"])
        if os.environ.get("TRAPSAN_REQUIRE_HW") == "1":
            self.assertIn("BACKEND=hw", r.stdout, r.stderr)
        if "BACKEND=hw" not in r.stdout and r.returncode == 0:
            # Soft backend: a check comes before its write, and the owner
            # changes the bits itself in the scope: not judged
            # (docs/annotations.md).
            self.skipTest("this test needs hardware watchpoints")
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("intruder_writes_byte", r.stderr)
        self.assertIn("owner_scope_bits", r.stderr)

    def test_scoped_assertions_of_two_threads(self):
        # Both threads assert they alone write g_counter (the owner's scope
        # first), then the owner writes it, unchecked: allowed by its own
        # assertion, not by the intruder's. The write hits both watchpoints
        # and the kernel sends one SIGTRAP, with the cookie of whichever
        # debug register comes first (the owner's, when its slot was
        # claimed first): the intruder's window must still get it.
        r = run([PROG, "scoped-two-writers"])
        if os.environ.get("TRAPSAN_REQUIRE_HW") == "1":
            self.assertIn("BACKEND=hw", r.stdout, r.stderr)
        if "BACKEND=hw" not in r.stdout and r.returncode == 0:
            # Soft backend: an unchecked write is seen by nobody.
            self.skipTest("this test needs hardware watchpoints")
        self.expect_report([PROG, "scoped-two-writers"],
                           "intruder_scope_writer", "owner_writes_unchecked")

    def test_data_race_is_not_reported(self):
        self.expect_silent([PROG, "data-race"])
        self.expect_silent([PROG, "ignore-region"])

    def test_plain_race_is_reported(self):
        # The control of the two above: the same accesses, unannotated.
        self.expect_report([PROG, "plain-race"], "owner_writes",
                           "intruder_reads_counter")

    def test_cpp_scoped_and_data_race(self):
        for _ in range(ATTEMPTS):
            r = run([CPP, "scoped"])
            if r.returncode == 66 and "<unknown origin>" not in r.stderr:
                break  # (an unknown origin: as in expect_report)
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("OwnerScoped", r.stderr)
        self.assertIn("IntruderReads", r.stderr)
        self.expect_silent([CPP, "data-race"])

    def test_production_mode_samples_assertions(self):
        # Outside mode=ci an assertion is a sampled access: with a sample
        # rate far above the 400 assertions, none opens a window.
        r = run([PROG, "writer-vs-write"],
                options="sample_rate=100000000:print_stats=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("REPORTS=0", r.stdout)

    def test_ci_mode_opens_every_assertion(self):
        # mode=ci: an assertion is not sampled and the budget does not
        # refuse it. With a sample rate no run reaches and a budget of 1%,
        # the assertions still open their windows (production mode, the
        # control below, opens none).
        options = OPTIONS.replace("max_overhead=0", "max_overhead=1") + \
            ":sample_rate=100000000:print_stats=1"
        for _ in range(ATTEMPTS):
            r = run([PROG, "writer-vs-write"], options=options)
            if r.returncode == 66:
                break
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("owner_asserts_writer", r.stderr)
        windows = int(re.search(r"^\s*windows\s+(\d+)", r.stderr,
                                re.M).group(1))
        self.assertGreaterEqual(windows, 1, r.stderr)

    def test_plain_build_references_nothing(self):
        for plain in (PLAIN, PLAIN_CPP):  # C and C++
            r = subprocess.run([plain], stdout=subprocess.PIPE,
                               universal_newlines=True)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("OK=42 evaluations=1", r.stdout)
            nm = subprocess.run(["nm", "-C", plain], stdout=subprocess.PIPE,
                                universal_newlines=True)
            self.assertNotIn("trapsan", nm.stdout)
        nm = subprocess.run(["nm", PROG], stdout=subprocess.PIPE,
                            universal_newlines=True)
        self.assertRegex(nm.stdout, r"\bw __trapsan_assert_exclusive\b")


if __name__ == "__main__":
    PROG, CPP, PLAIN, PLAIN_CPP = sys.argv[1:5]
    unittest.main(argv=[sys.argv[0]] + sys.argv[5:], verbosity=2)
