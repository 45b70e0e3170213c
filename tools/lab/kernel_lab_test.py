#!/usr/bin/env python3
"""Smoke test of tools/lab/kernel-lab's own pieces, without building or
booting a kernel (CTest lab.kernel_lab_smoke, a second or two): the config
fragment and its check against a final .config, the deb-src entries made from
apt's sources, the version order, the revert patch (well-formed; applied with
--dry-run when the kernel source is in the cache), kcheck JSON and dmesg
parsing, the results table, and trapsan-lab --kernel's error path."""

import glob
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import kernel_lab as kl  # noqa: E402
import kernel_lab_check as kc  # noqa: E402

PATCH = os.path.join(kl.KDIR, "revert-missing-sigtraps.patch")


def kcheck_json(missing):
    return ('{"tool": "trapsan-kcheck", "mode": "default", '
            '"properties": [{"index": 1, "id": "sigtrap", "verdict": "PASS", '
            '"relied_on": true, "evidence": "ok", "numbers": {"expected": '
            '1500, "received": 1500}}, {"index": 5, "id": "exactly_once", '
            f'"verdict": "{"FAIL" if missing else "PASS"}", "relied_on": '
            '"true", "evidence": "e", "numbers": {"expected": 1000, '
            f'"received": {1000 - missing}, "missing": {missing}}}}}], '
            f'"failed_relied_on": {1 if missing else 0}, "exit_status": '
            f'{1 if missing else 0}}}')


class ConfigTest(unittest.TestCase):
    def test_fragment_parses_and_has_what_the_lab_needs(self):
        frag = kl.parse_config(kl.read(kl.FRAGMENT))
        for opt in ("CONFIG_PERF_EVENTS", "CONFIG_HAVE_HW_BREAKPOINT",
                    "CONFIG_SMP", "CONFIG_64BIT", "CONFIG_SERIAL_8250_CONSOLE",
                    "CONFIG_9P_FS", "CONFIG_NET_9P_VIRTIO", "CONFIG_VIRTIO_PCI",
                    "CONFIG_OVERLAY_FS", "CONFIG_DEVTMPFS", "CONFIG_PVH",
                    "CONFIG_BLK_DEV_INITRD", "CONFIG_RD_GZIP", "CONFIG_FUTEX"):
            self.assertEqual(frag.get(opt), "y", opt)
        self.assertEqual(frag["CONFIG_NR_CPUS"], "8")

    def test_mismatches_name_what_the_final_config_lost(self):
        wanted = kl.parse_config("CONFIG_A=y\nCONFIG_B=y\nCONFIG_N=8\n"
                                 "# CONFIG_C is not set\n")
        got = kl.parse_config('CONFIG_A=y\n# CONFIG_B is not set\n'
                              'CONFIG_N=4\nCONFIG_S="x y"\n')
        self.assertEqual(kl.config_mismatches(wanted, got),
                         [("CONFIG_B", "y", "n"), ("CONFIG_N", "8", "4")])
        self.assertEqual(got["CONFIG_S"], "x y")

    def test_bad_line_is_an_error(self):
        with self.assertRaises(kl.LabError):
            kl.parse_config("PERF_EVENTS=y\n")

    def test_allconfig_puts_the_fragment_last(self):
        text = kl.allconfig_text(["CONFIG_SLOB=y", "CONFIG_X=n\n"],
                                 "CONFIG_SLUB=y\n")
        self.assertEqual(text, "CONFIG_SLOB=y\nCONFIG_X=n\nCONFIG_SLUB=y\n")

    def test_cache_key_follows_every_input(self):
        base = kl.kernel_key("6.1.187-1", "F", ["P"])
        self.assertEqual(base, kl.kernel_key("6.1.187-1", "F", ["P"]))
        for other in (kl.kernel_key("6.1.190-1", "F", ["P"]),
                      kl.kernel_key("6.1.187-1", "G", ["P"]),
                      kl.kernel_key("6.1.187-1", "F", []),
                      kl.kernel_key("6.1.187-1", "F", ["Q"])):
            self.assertNotEqual(base, other)


class AptTest(unittest.TestCase):
    DEB822 = ("Types: deb\n# comment\nURIs: http://deb.debian.org/debian\n"
              "Suites: bookworm bookworm-updates\nComponents: main\n"
              "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
              "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n"
              "Suites: nodistro\nComponents: main\n\n"
              "Types: deb-src\nURIs: http://deb.debian.org/debian\n"
              "Suites: bookworm\nComponents: main\n")

    def test_deb822_debian_entries_only(self):
        st = kl.deb_src_stanzas(self.DEB822)
        self.assertEqual(st, [
            "Types: deb-src\nURIs: http://deb.debian.org/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"])

    def test_one_line_format(self):
        st = kl.deb_src_stanzas(
            "deb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian "
            "bookworm main contrib  # x\n# deb http://x/debian sid main\n"
            "deb-src http://deb.debian.org/debian bookworm main\n")
        self.assertEqual(st, ["Types: deb-src\nURIs: "
                              "http://deb.debian.org/debian\nSuites: bookworm"
                              "\nComponents: main contrib\nSigned-By: /k.gpg\n"])

    def test_versions_newest_first_series_only(self):
        text = ("Package: linux\nVersion: 6.1.4-1\n\nPackage: linux\n"
                "Version: 6.1.170-3\n\nVersion: 6.1.38-2\n\n"
                "Version: 6.12.9-1\n\nVersion: 6.1.170-10\n")
        self.assertEqual(kl.parse_showsrc_versions(text),
                         ["6.1.170-10", "6.1.170-3", "6.1.38-2", "6.1.4-1"])
        self.assertEqual(kl.upstream_of("6.1.170-3"), "6.1.170")


class PatchTest(unittest.TestCase):
    def test_patch_is_well_formed(self):
        text = kl.read(PATCH)
        self.assertIn("--- a/kernel/events/core.c", text)
        self.assertIn("+++ b/kernel/events/core.c", text)
        hunks = 0
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            m = re.match(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@", lines[i])
            i += 1
            if not m:
                continue
            hunks += 1
            old = int(m.group(1) or 1)
            new = int(m.group(2) or 1)
            while old > 0 or new > 0:
                line = lines[i]
                i += 1
                if line.startswith("\\"):
                    continue
                tag = line[:1] or " "
                self.assertIn(tag, " -+", f"hunk {hunks}: {line!r}")
                if tag != "+":
                    old -= 1
                if tag != "-":
                    new -= 1
            self.assertEqual((old, new), (0, 0), f"hunk {hunks} counts")
        self.assertGreaterEqual(hunks, 8)
        # What it backs out, and what the pre-6.1 code it restores looks like.
        self.assertIn("-\tif (event->pending_sigtrap) {", text)
        self.assertIn("+\t\t\tatomic_set_release(&event->event_limit, 1);",
                      text)
        self.assertIn("+\t\tatomic_set(&event->event_limit, 1);", text)

    def test_patched_files_are_what_the_seeded_build_recompiles(self):
        # A reverted build seeded from the stock objects touches exactly
        # these files (kernel_lab.build_kernel), so make compiles them again.
        self.assertEqual(kl.patched_files("reverted"),
                         ["kernel/events/core.c"])
        self.assertEqual(kl.patched_files("stock"), [])
        self.assertEqual(kl.patch_targets(
            "header text\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n"
            "--- a/gone.c\n+++ /dev/null\n--- a/y/z.h\n+++ b/y/z.h\n"
            "+++ b/x.c\n"), ["x.c", "y/z.h"])

    def test_patch_applies_to_the_cached_source(self):
        cache = os.path.join(os.environ.get("TRAPSAN_LAB_CACHE",
                                            "/var/cache/trapsan-lab"),
                             "kernel", "src")
        trees = sorted(glob.glob(os.path.join(cache, "linux-*",
                                              ".trapsan-ready")))
        if not trees:
            self.skipTest(f"no kernel source in {cache} (kernel-lab build "
                          "fetches it)")
        src = os.path.dirname(trees[-1])
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "kernel", "events"))
            with open(os.path.join(d, "kernel", "events", "core.c"),
                      "w") as f:
                f.write(kl.read(os.path.join(src, "kernel", "events",
                                             "core.c")))
            r = subprocess.run(["patch", "-p1", "--dry-run", "--batch",
                                "-i", PATCH], cwd=d, capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("fuzz", r.stdout)


class ParseTest(unittest.TestCase):
    def test_kcheck_json(self):
        obj = kc.parse_kcheck_json("noise\n" + kcheck_json(0) + "\n")
        self.assertEqual(obj["failed_relied_on"], 0)
        for bad in ("", '{"tool": "other", "properties": []}',
                    kcheck_json(0)[:-30]):
            with self.assertRaises(ValueError):
                kc.parse_kcheck_json(bad)

    def test_kernel_problems(self):
        log = ("[    0.1] ok\n[   12.345678] WARNING: CPU: 1 PID: 80 at "
               "kernel/events/core.c:6550 perf_sigtrap+0x40/0x50\n"
               "[   12.4] Call Trace:\n[   13.0] Call Trace:\nplain\n"
               "BUG: kernel NULL pointer dereference\n")
        self.assertEqual(kc.kernel_problems(log), [
            "WARNING: CPU: 1 PID: 80 at kernel/events/core.c:6550 "
            "perf_sigtrap+0x40/0x50", "Call Trace:",
            "BUG: kernel NULL pointer dereference"])

    def test_table(self):
        ok = {"kcheck": kc.parse_kcheck_json(kcheck_json(0))}
        bad = {"kcheck": kc.parse_kcheck_json(kcheck_json(250))}
        none = {"kcheck": None, "error": "no kcheck JSON (empty output)"}
        t = kc.markdown_table([("stock", 2, ok), ("reverted", 2, bad),
                               ("reverted", 4, none)])
        lines = t.splitlines()
        self.assertEqual(lines[0], "| property | stock, 2 vCPUs | reverted, "
                                   "2 vCPUs | reverted, 4 vCPUs |")
        self.assertIn("| `exactly_once` | PASS 1,000 / 1,000 | **FAIL** 1,000 "
                      "/ 750, missing 250 | - |", lines)
        self.assertIn("no kcheck JSON", lines[-1])

    def test_guest_script_keeps_json_off_the_console(self):
        s = kc.guest_script("/b/tools/trapsan-kcheck", ["--only", "a b"])
        self.assertTrue(s.startswith("/b/tools/trapsan-kcheck --json --only "
                                     "'a b' > kcheck.json"))
        self.assertIn("dmesg > dmesg.txt", s)
        self.assertTrue(s.endswith("exit $rc"))


class LabOptionTest(unittest.TestCase):
    def test_missing_kernel_is_a_setup_error(self):
        r = subprocess.run([kc.LAB, "--kernel", "/nonexistent/vmlinux",
                            "--", "true"], capture_output=True, text=True,
                           timeout=60)
        if "missing Debian package" in r.stderr:
            self.skipTest(r.stderr.strip())
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn("--kernel /nonexistent/vmlinux: no such file", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
