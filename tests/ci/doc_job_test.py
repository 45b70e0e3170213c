#!/usr/bin/env python3
"""The GitHub Actions job of docs/ci.md, checked and run here.

    doc_job_test.py SOURCE_DIR [--run]

Always: the YAML parses (python3-yaml) into a job GitHub accepts in shape
(on, jobs.<id>.runs-on, steps of `run` or `uses`), every `run` script is
valid bash, every command it starts exists here (the tools trapsan installs
counted as existing in SOURCE_DIR/tools, the compilers in the build), every
Debian package it installs is known to apt, every -D option it gives
trapsan's CMake is one of trapsan's options, and the options it gives the
tools are ones they take.

With --run: the job's steps, one after the other, as GitHub runs them
(bash -eo pipefail, GITHUB_PATH, GITHUB_STEP_SUMMARY, RUNNER_TEMP, `if:
always()`), in a fresh directory: the project checked out is a copy of
examples/ctest-project; `apt-get` only checks (apt-get -s) that the packages
install; the trapsan repository the job clones is SOURCE_DIR's HEAD (git's
url.<dir>.insteadOf, the command unchanged); /opt/trapsan becomes a directory
of the test's; the SARIF upload is a validation of the file against the SARIF
2.1.0 schema. The ctest step must fail only as the example expects (its
racy test is WILL_FAIL: ctest passes), the report steps must write the SARIF
and the markdown summary, both naming the example's race.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

KNOWN_ACTIONS = {"actions/checkout@v4", "github/codeql-action/upload-sarif@v3"}
# Commands a step may start that are not on this machine's PATH: the tools
# trapsan installs (checked in SOURCE_DIR/tools and the build's wrappers).
TRAPSAN_TOOLS = {"trapsan-report", "trapsan-run", "trapsan-cc", "trapsan-c++"}
SHELL_WORDS = {"echo", "cd", "export", "if", "then", "fi", "for", "do", "done",
               "test", "[", "mkdir"}


def job_yaml(source):
    text = open(os.path.join(source, "docs", "ci.md")).read()
    m = re.search(r"## A GitHub Actions job\n+```yaml\n(.*?)\n```", text, re.S)
    if not m:
        sys.exit("docs/ci.md: no ```yaml block under '## A GitHub Actions job'")
    return m.group(1)


def commands(script):
    """The first word of every simple command of a run script."""
    words = []
    joined = re.sub(r"\\\n", " ", script)
    for line in joined.splitlines():
        for part in re.split(r"\|\||&&|\||;", line):
            tokens = shlex.split(part, comments=True)
            while tokens and "=" in tokens[0] and not tokens[0].startswith("-"):
                tokens = tokens[1:]  # VAR=value prefixes
            if tokens:
                words.append(tokens[0])
    return words


def check_static(source, doc):
    problems = []
    triggers = doc.get("on", doc.get(True))  # PyYAML reads `on:` as true
    if not triggers:
        problems.append("no 'on:' triggers")
    jobs = doc.get("jobs") or {}
    if len(jobs) != 1:
        problems.append(f"expected one job, got {list(jobs)}")
    job = next(iter(jobs.values()))
    for key in ("runs-on", "steps"):
        if key not in job:
            problems.append(f"the job has no '{key}'")
    cmake_options = set(re.findall(
        r"option\((TRAPSAN_\w+)", open(os.path.join(source, "CMakeLists.txt")).read()))
    for step in job["steps"]:
        name = step.get("name", step.get("uses", "?"))
        if ("run" in step) == ("uses" in step):
            problems.append(f"step '{name}': needs exactly one of run/uses")
            continue
        if "uses" in step:
            if step["uses"] not in KNOWN_ACTIONS:
                problems.append(f"step '{name}': unknown action {step['uses']}")
            continue
        script = step["run"]
        r = subprocess.run(["bash", "-n"], input=script, universal_newlines=True,
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            problems.append(f"step '{name}': not valid bash: {r.stderr}")
        for word in commands(script):
            if word in SHELL_WORDS or word in TRAPSAN_TOOLS:
                if word in ("trapsan-report", "trapsan-run") and not os.access(
                        os.path.join(source, "tools", word), os.X_OK):
                    problems.append(f"step '{name}': no tools/{word}")
                continue
            if shutil.which(word) is None:
                problems.append(f"step '{name}': command '{word}' not found here")
        for option in re.findall(r"-D(TRAPSAN_\w+)=", script):
            if option not in cmake_options:
                problems.append(f"step '{name}': trapsan has no CMake option {option}")
        m = re.search(r"apt-get install ((?:[^\n\\]|\\\n)*)", script)
        if m:
            packages = [w for w in m.group(1).replace("\\\n", " ").split()
                        if not w.startswith("-")]
            for p in packages:
                r = subprocess.run(["apt-cache", "show", "--no-all-versions", p],
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                if r.returncode != 0:
                    problems.append(f"step '{name}': no Debian package '{p}'")
        for tool_args in re.findall(r"trapsan-report ([^\n]*)", script):
            for flag in re.findall(r"(?:^| )(--?[a-z-]+)", tool_args):
                help_text = subprocess.run(
                    [os.path.join(source, "tools", "trapsan-report"), "--help"],
                    stdout=subprocess.PIPE, universal_newlines=True).stdout
                if not re.search(r"(^|[ ,\[])" + re.escape(flag) + r"\b", help_text):
                    problems.append(f"step '{name}': trapsan-report takes no {flag}")
    return problems


def run_job(source, doc, work):
    """Runs the job's steps; returns a list of problems."""
    problems = []
    job = next(iter(doc["jobs"].values()))
    ws = os.path.join(work, "workspace")
    shutil.copytree(os.path.join(source, "examples", "ctest-project"), ws)
    runner_temp = os.path.join(work, "runner-temp")
    os.makedirs(runner_temp)
    prefix = os.path.join(work, "opt-trapsan")
    github_path = os.path.join(work, "github_path")
    summary = os.path.join(work, "step_summary.md")
    open(github_path, "w").close()
    open(summary, "w").close()
    url = re.search(r"git clone [^\n]*?(https://\S+)", yaml.safe_dump(doc))
    env = dict(os.environ, RUNNER_TEMP=runner_temp, GITHUB_PATH=github_path,
               GITHUB_STEP_SUMMARY=summary, GITHUB_WORKSPACE=ws,
               CMAKE_BUILD_PARALLEL_LEVEL="2")
    if url:
        env.update(GIT_CONFIG_COUNT="1",
                   GIT_CONFIG_KEY_0=f"url.{source}.insteadOf",
                   GIT_CONFIG_VALUE_0=url.group(1))
    env.pop("TRAPSAN_OPTIONS", None)
    apt_check = ('apt-get() { [ "$1" = update ] && return 0; '
                 'command apt-get -s "$@" > /dev/null; }\n')
    failed = False
    for step in job["steps"]:
        name = step.get("name", step.get("uses"))
        if failed and "always()" not in str(step.get("if", "")):
            print(f"--- skipped: {name}")
            continue
        if "uses" in step:
            if step["uses"].startswith("github/codeql-action/upload-sarif"):
                sarif = os.path.join(ws, step["with"]["sarif_file"])
                r = subprocess.run(
                    ["python3", os.path.join(source, "tests", "integration",
                                             "check_report.py"),
                     "sarif", sarif,
                     os.path.join(source, "tests", "integration", "data",
                                  "sarif-2.1.0-subset.schema.json")],
                    stdout=subprocess.PIPE, universal_newlines=True)
                print(f"--- {name}: {r.stdout.strip()}")
                if r.returncode != 0 or "ERROR" in r.stdout:
                    problems.append(f"{name}: invalid SARIF: {r.stdout}")
            continue
        script = step["run"].replace("/opt/trapsan", prefix)
        step_env = dict(env)
        for k, v in (step.get("env") or {}).items():
            step_env[k] = str(v)
        extra = [l.strip() for l in open(github_path) if l.strip()]
        step_env["PATH"] = ":".join(
            [p.replace("/opt/trapsan", prefix) for p in reversed(extra)] +
            [step_env["PATH"]])
        print(f"--- {name}", flush=True)
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                            "-c", apt_check + script], cwd=ws, env=step_env)
        if r.returncode != 0:
            problems.append(f"step '{name}' failed ({r.returncode})")
            failed = True
    sarif = os.path.join(ws, "trapsan.sarif")
    if not os.path.exists(sarif) or "inventory_test.cpp" not in open(sarif).read():
        problems.append("no SARIF naming inventory_test.cpp")
    elif '"uri": "inventory_test.cpp"' not in open(sarif).read():
        # strip_path_prefix=$GITHUB_WORKSPACE/: repository-relative paths.
        problems.append("the SARIF does not name inventory_test.cpp relative "
                        "to the repository")
    text = open(summary).read()
    # (The racy line's file: at -O2 the inlined Restock() frame may be gone
    # and the store attributed to its caller's line.)
    if "| # | Data race |" not in text or "inventory_test.cpp" not in text:
        problems.append("the step summary has no table with the race:\n" + text)
    return problems


def main(argv):
    source = os.path.abspath(argv[1])
    doc = yaml.safe_load(job_yaml(source))
    problems = check_static(source, doc)
    if "--run" in argv and not problems:
        with tempfile.TemporaryDirectory(prefix="trapsan-doc-job-") as work:
            problems += run_job(source, doc, work)
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
