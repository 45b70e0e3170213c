#!/usr/bin/env python3
"""Reads trapsan's machine-readable reports for ci_output_test.cc and prints
what it found as KEY=VALUE lines (the test asserts on them).

  check_report.py jsonl FILE          JSON Lines (format=json), schema 1
  check_report.py sarif FILE SCHEMA   a SARIF log, validated against SCHEMA
                                      (python3-jsonschema) and against what
                                      GitHub code scanning requires besides

Any structural problem is printed as ERROR=... (the test expects none)."""
import json
import re
import sys

RACE_FIELDS = ["type", "schema_version", "tool", "pid", "exe", "report_index",
               "title", "summary", "functions", "unknown_origin",
               "asynchronous", "late", "sampled", "concurrent", "location",
               "value_change", "threads"]
ACCESS_FIELDS = ["kind", "size", "address", "thread", "tid", "late",
                 "asynchronous", "stack"]
FRAME_FIELDS = ["index", "pc", "function", "file", "line", "module", "offset"]
THREAD_FIELDS = ["id", "tid", "name", "state", "origin", "parent",
                 "creation_stack"]
SUMMARY_FIELDS = ["type", "schema_version", "tool", "pid", "exe",
                  "races_found", "races_reported", "duplicates", "suppressed",
                  "races"]


def out(key, value):
    print(f"{key}={value}")


def missing(obj, fields, where):
    for f in fields:
        if f not in obj:
            out("ERROR", f"{where} lacks '{f}'")


def top(access):
    frame = access["stack"][0] if access and access["stack"] else None
    return f"{frame['function']}:{frame['line']}" if frame else ""


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        out("ERROR", "the file does not end with a newline")
    lines = text.splitlines()
    out("LINES", len(lines))
    races = []
    summaries = []
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            out("ERROR", f"line {n} is not JSON: {e}")
            continue
        if obj.get("schema_version") != 1:
            out("ERROR", f"line {n}: schema_version {obj.get('schema_version')}")
        (races if obj.get("type") == "race" else summaries).append(obj)
    out("RACES", len(races))
    out("SUMMARIES", len(summaries))
    for i, r in enumerate(races):
        missing(r, RACE_FIELDS, f"race {i}")
        for side in ("sampled", "concurrent"):
            if r.get(side) is not None:
                missing(r[side], ACCESS_FIELDS, f"race {i} {side}")
                for fr in r[side]["stack"]:
                    missing(fr, FRAME_FIELDS, f"race {i} {side} frame")
        for t in r.get("threads", []):
            missing(t, THREAD_FIELDS, f"race {i} thread")
    # The first two-sided race (a race at unknown origin may come too).
    two_sided = [r for r in races if not r["unknown_origin"]]
    if two_sided:
        r = two_sided[0]
        out("PID", r["pid"])
        out("EXE", r["exe"])
        out("TITLE", r["title"])
        out("FUNCTIONS", ",".join(r["functions"]))
        out("SAMPLED_TOP", top(r["sampled"]))
        out("CONCURRENT_TOP", top(r["concurrent"]))
        out("SAMPLED_FILE", r["sampled"]["stack"][0]["file"])
        out("LOCATION_KIND", r["location"]["kind"])
        out("LOCATION", r["location"]["description"])
        out("THREADS", len(r["threads"]))
        out("REPORT_INDEX", r["report_index"])
    if summaries:
        s = summaries[-1]
        missing(s, SUMMARY_FIELDS, "summary")
        out("SUMMARY_RACES_FOUND", s["races_found"])
        out("SUMMARY_RACES_REPORTED", s["races_reported"])
        out("SUMMARY_SUPPRESSED", s["suppressed"])
        out("SUMMARY_DISTINCT", len(s["races"]))
        if s["races"]:
            out("SUMMARY_COUNT", s["races"][0]["count"])
        if lines and json.loads(lines[-1]).get("type") != "summary":
            out("ERROR", "the summary is not the last line")


# RFC 3986 URI-reference characters (the schema's "uri-reference" format,
# which python3-jsonschema checks only when an optional module is there).
URI_REFERENCE = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?"
    r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def artifact_uris(node):
    """Every artifactLocation.uri in a SARIF document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "artifactLocation" and isinstance(value, dict) \
                    and "uri" in value:
                yield value["uri"]
            else:
                yield from artifact_uris(value)
    elif isinstance(node, list):
        for item in node:
            yield from artifact_uris(item)


def code_scanning_problems(log):
    """What GitHub code scanning refuses although the schema allows it: a
    result location without physicalLocation.artifactLocation.uri fails the
    whole upload ('locationFromSarifResult: expected artifact location');
    a uri that is no URI-reference fails its validation."""
    problems = []
    for uri in artifact_uris(log):
        if not URI_REFERENCE.fullmatch(uri):
            problems.append(f"artifactLocation.uri {uri!r} is no URI-reference")
    for run in log.get("runs") or []:
        for i, r in enumerate(run.get("results") or []):
            if not r.get("ruleId"):
                problems.append(f"result {i} has no ruleId")
            if not r.get("locations"):
                problems.append(f"result {i} has no location")
            for where in ("locations", "relatedLocations"):
                for loc in r.get(where) or []:
                    uri = loc.get("physicalLocation", {}).get(
                        "artifactLocation", {}).get("uri")
                    if not uri:
                        problems.append(f"result {i} {where}: no "
                                        "physicalLocation.artifactLocation.uri")
    return problems


def sarif(path, schema_path):
    import jsonschema
    with open(path, encoding="utf-8") as f:
        log = json.load(f)
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    for e in errors[:5]:
        out("ERROR", f"{list(e.path)}: {e.message}")
    out("VALID", 0 if errors else 1)
    for p in code_scanning_problems(log)[:5]:
        out("ERROR", f"code scanning: {p}")
    results = log["runs"][0]["results"]
    out("RESULTS", len(results))
    # (A process's own log names its process; trapsan-report's merge of
    # many processes has no invocations: optional in SARIF 2.1.0.)
    invocations = log["runs"][0].get("invocations")
    out("PROCESS_ID", invocations[0]["processId"] if invocations else "none")
    two_sided = [r for r in results if "relatedLocations" in r]
    out("TWO_SIDED", len(two_sided))
    if two_sided:
        r = two_sided[0]
        loc = r["locations"][0]["physicalLocation"]
        out("TOP", f"{loc['artifactLocation']['uri']}:"
                   f"{loc.get('region', {}).get('startLine', '')}")
        rel = r["relatedLocations"][0]["physicalLocation"]
        out("RELATED", f"{rel['artifactLocation']['uri']}:"
                       f"{rel.get('region', {}).get('startLine', '')}")
        flows = r["codeFlows"][0]["threadFlows"]
        out("THREADFLOWS", len(flows))
        # (trapsan-report's merged SARIF may name a frame by `name` only and
        # carry no fingerprint of the runtime's: both optional in SARIF.)
        def top(fl):
            logical = fl["locations"][0]["location"].get("logicalLocations", [{}])[0]
            return logical.get("fullyQualifiedName", logical.get("name", "?"))
        out("FLOW_TOPS", ",".join(top(fl) for fl in flows))
        out("FINGERPRINT", r.get("partialFingerprints", {}).get(
            "trapsanRacePair/v1", "none"))
        out("MESSAGE", r["message"]["text"])


def main(argv):
    try:
        if argv[1] == "jsonl":
            jsonl(argv[2])
        elif argv[1] == "sarif":
            sarif(argv[2], argv[3])
        else:
            out("ERROR", f"unknown command {argv[1]}")
    except Exception as e:  # noqa: BLE001 - reported to the test
        out("ERROR", f"{type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
