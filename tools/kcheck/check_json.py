#!/usr/bin/env python3
"""CTest kcheck_json: `trapsan-kcheck --quick --json` parses and lists every
property with id, verdict, evidence, numbers and relied_on."""
import json
import subprocess
import sys

PROPERTIES = [
    "sigtrap", "inherit_thread", "remove_on_exec", "modify_reaches_threads",
    "exactly_once", "many_overflows", "refresh", "blocked_async",
    "create_during_modify", "exit_exec_pending", "exec_breakpoint",
]


def main():
    proc = subprocess.run([sys.argv[1], "--quick", "--json"],
                          stdout=subprocess.PIPE, timeout=60)
    if proc.returncode not in (0, 1):
        sys.exit(f"exit status {proc.returncode}, want 0 or 1")
    doc = json.loads(proc.stdout)
    for key in ("kernel", "changes", "properties", "exit_status"):
        if key not in doc:
            sys.exit(f"missing key {key!r}")
    if doc["exit_status"] != proc.returncode:
        sys.exit("exit_status does not match the exit status")
    if not doc["kernel"].get("release"):
        sys.exit("no kernel release")
    for c in doc["changes"]:
        for key in ("id", "commit", "since", "present_by_version"):
            if key not in c:
                sys.exit(f"change without {key!r}: {c}")
    ids = [p.get("id") for p in doc["properties"]]
    count = len(ids)
    if ids != PROPERTIES:
        sys.exit(f"properties {ids}, want {PROPERTIES}")
    for p in doc["properties"]:
        if p.get("verdict") not in ("PASS", "FAIL", "SKIP", "INFO"):
            sys.exit(f"{p['id']}: bad verdict {p.get('verdict')!r}")
        if not isinstance(p.get("relied_on"), bool):
            sys.exit(f"{p['id']}: relied_on is not a bool")
        if not isinstance(p.get("evidence"), str) or not p["evidence"]:
            sys.exit(f"{p['id']}: no evidence")
        if not isinstance(p.get("numbers"), dict):
            sys.exit(f"{p['id']}: numbers is not an object")
    # --only runs the named properties alone; an unknown id is a usage error.
    only = subprocess.run([sys.argv[1], "--only", "sigtrap,exec_breakpoint",
                           "--json"], stdout=subprocess.PIPE, timeout=60)
    ids = [p.get("id") for p in json.loads(only.stdout)["properties"]]
    if ids != ["sigtrap", "exec_breakpoint"]:
        sys.exit(f"--only sigtrap,exec_breakpoint ran {ids}")
    bad = subprocess.run([sys.argv[1], "--only", "no_such_property"],
                         capture_output=True, text=True, timeout=60)
    if bad.returncode != 2 or "no_such_property" not in bad.stderr:
        sys.exit(f"--only no_such_property: exit {bad.returncode}, "
                 f"stderr {bad.stderr!r}")
    print(f"ok: {count} properties, exit status {proc.returncode}")


if __name__ == "__main__":
    main()
