"""kernel-lab's checking half: boot a lab kernel in the guest
(tools/lab/trapsan-lab --kernel), run trapsan-kcheck there, collect its JSON
and the kernel's messages, and tabulate the verdicts (docs/kernel.md)."""

import json
import os
import re
import shlex
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "trapsan-lab")

# Kernel messages worth reporting next to a verdict (dmesg of the guest).
PROBLEM = re.compile(r"(WARNING:|BUG:|Oops|Kernel panic|general protection|"
                     r"Call Trace:|RIP: )")


def guest_script(kcheck, kcheck_args, json_name="kcheck.json"):
    """The guest job: kcheck's JSON to a file in the run's directory (never
    through the console), then the kernel's log; kcheck's status is ours."""
    cmd = " ".join(shlex.quote(a) for a in [kcheck, "--json", *kcheck_args])
    return (f"{cmd} > {json_name} 2> kcheck.stderr; rc=$?; "
            "dmesg > dmesg.txt 2>/dev/null; exit $rc")


def run_in_guest(vmlinux, smp, rundir, kcheck, kcheck_args, timeout,
                 extra_env=()):
    """Boots vmlinux with `smp` vCPUs, runs kcheck; returns a result dict."""
    os.makedirs(rundir, exist_ok=True)
    for name in ("kcheck.json", "kcheck.stderr", "dmesg.txt", "console.txt"):
        if os.path.exists(os.path.join(rundir, name)):
            os.unlink(os.path.join(rundir, name))
    cmd = [LAB, "--kernel", vmlinux, "--smp", str(smp), "--rw", rundir,
           "--timeout", str(timeout)]
    for e in extra_env:
        cmd += ["--env", e]
    cmd += ["--", "sh", "-c", guest_script(kcheck, kcheck_args)]
    start = time.monotonic()
    with open(os.path.join(rundir, "console.txt"), "w") as con:
        rc = subprocess.run(cmd, cwd=rundir, stdout=con,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL).returncode
    took = time.monotonic() - start
    return collect(rundir, rc, took)


def collect(rundir, rc, took):
    def text(name):
        p = os.path.join(rundir, name)
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    result = {"exit_status": rc, "guest_seconds": round(took, 1),
              "rundir": rundir}
    try:
        result["kcheck"] = parse_kcheck_json(text("kcheck.json"))
    except ValueError as e:
        result["kcheck"] = None
        result["error"] = (f"no kcheck JSON ({e}); exit status {rc}; "
                           f"see {rundir}/console.txt")
    result["kernel_problems"] = kernel_problems(text("dmesg.txt") +
                                                text("console.txt"))
    return result


def parse_kcheck_json(text):
    """kcheck --json's object; ValueError when it is not there or torn."""
    start = text.find("{")
    if start < 0:
        raise ValueError("empty output")
    obj = json.loads(text[start:])
    if obj.get("tool") != "trapsan-kcheck" or "properties" not in obj:
        raise ValueError("not trapsan-kcheck's JSON")
    return obj


def kernel_problems(log, limit=12):
    """The kernel's WARNING/BUG/Oops lines (deduplicated, in order)."""
    seen, out = set(), []
    for line in log.splitlines():
        line = re.sub(r"^\[\s*[0-9.]+\]\s*", "", line.strip())
        if PROBLEM.search(line) and line not in seen:
            seen.add(line)
            out.append(line)
            if len(out) >= limit:
                break
    return out


def property_rows(kcheck):
    """One row per property: id, verdict, expected, received, missing and
    the evidence, from kcheck's JSON."""
    rows = []
    for p in kcheck.get("properties", []):
        n = p.get("numbers", {})
        rows.append({
            "id": p.get("id"), "verdict": p.get("verdict"),
            "relied_on": p.get("relied_on"),
            "expected": n.get("expected"), "received": n.get("received"),
            "missing": n.get("missing"), "evidence": p.get("evidence", ""),
        })
    return rows


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown_table(results):
    """results: [(kernel, smp, result)] -> a Markdown table, one row per
    property, one column pair per (kernel, vCPUs)."""
    cols = [(k, s) for k, s, _ in results]
    by = {(k, s): r for k, s, r in results}
    ids = []
    for _, _, r in results:
        for row in property_rows(r.get("kcheck") or {}):
            if row["id"] not in ids:
                ids.append(row["id"])
    head = "| property | " + " | ".join(f"{k}, {s} vCPUs" for k, s in cols) + \
        " |"
    sep = "|---|" + "---|" * len(cols)
    lines = [head, sep]
    for pid in ids:
        cells = []
        for c in cols:
            r = by[c]
            row = next((x for x in property_rows(r.get("kcheck") or {})
                        if x["id"] == pid), None)
            if row is None:
                cells.append("-")
                continue
            cell = f"**{row['verdict']}**" if row["verdict"] == "FAIL" \
                else row["verdict"]
            if row["expected"] is not None or row["received"] is not None:
                cell += f" {fmt(row['expected'])} / {fmt(row['received'])}"
                if row["missing"]:
                    cell += f", missing {fmt(row['missing'])}"
            cells.append(cell)
        lines.append(f"| `{pid}` | " + " | ".join(cells) + " |")
    status = []
    for c in cols:
        r = by[c]
        k = r.get("kcheck")
        status.append(r.get("error", "no JSON") if k is None else
                      f"exit {k.get('exit_status')}, "
                      f"{k.get('failed_relied_on')} relied-on failed")
    lines.append("| (kcheck) | " + " | ".join(status) + " |")
    return "\n".join(lines) + "\n"
