"""trapsan's JSON reports (format=json, log_path=PREFIX: PREFIX.PID.jsonl) and the reviews they must match.

A review file holds one block per reviewed race, keyed like trapsan's deduplication (the sorted pair of the
two top frames' functions, as in the report's title):

    [FunctionA / FunctionB]
    verdict: true race | not a race: <why> | trapsan defect: <what>
    review: free text, any number of lines (indented or not), up to the next [ ... ] block

A report whose pair has no block is unreviewed, and the run fails.
"""

import glob
import json
import os
import re


def load_reviews(path):
    reviews, key = {}, None
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = re.match(r"^\[(.+)\]\s*$", line)
            if m:
                key = m.group(1).strip()
                reviews[key] = {"verdict": None, "text": ""}
            elif key is not None:
                if line.startswith("verdict:"):
                    reviews[key]["verdict"] = line.split(":", 1)[1].strip()
                else:
                    reviews[key]["text"] += line
    return reviews


def pair_key(race):
    return " / ".join(race.get("functions") or ["<unknown>"])


def collect(directory):
    """Every race and summary object of the report files in `directory` (log_path=DIR/TAG gives
    DIR/TAG.PID.jsonl), and what is not JSON (lines, or files that are not .jsonl)."""
    races, summaries, garbage = [], [], []
    for path in sorted(glob.glob(os.path.join(directory, "*"))):
        if not path.endswith(".jsonl"):
            garbage.append(f"{path}: not a .jsonl report file")
            continue
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    garbage.append(f"{path}: {line[:200]}")
                    continue
                (races if obj.get("type") == "race" else summaries).append(obj)
    return races, summaries, garbage


def _frames(stack, limit=6):
    out = []
    for fr in (stack or [])[:limit]:
        where = f"{fr.get('file')}:{fr.get('line')}" if fr.get("file") else f"{fr.get('module')}+{fr.get('offset')}"
        out.append(f"      {fr.get('function')} {where}")
    return out


def describe(race):
    """A short text rendering of a JSON race: title, both stacks, location."""
    lines = [f"  {race.get('title')}  ({race.get('exe')}, pid {race.get('pid')})"]
    for side in ("sampled", "concurrent"):
        acc = race.get(side)
        if acc:
            lines.append(f"    {side}: {acc.get('kind')} of size {acc.get('size')} by T{acc.get('thread')}"
                         + (" (late)" if acc.get("late") else "") + (" (asynchronous)" if acc.get("asynchronous") else ""))
            lines += _frames(acc.get("stack"))
    loc = race.get("location") or {}
    lines.append(f"    location: {loc.get('description')}")
    if race.get("value_change"):
        lines.append(f"    value: {race['value_change'].get('old')} -> {race['value_change'].get('new')}")
    return "\n".join(lines)
