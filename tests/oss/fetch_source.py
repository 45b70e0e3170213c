"""Fetch a Debian source package with apt-get source, without touching the system's apt configuration.

The deb-src line is derived from the Debian mirror already configured for binary packages
(/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources); apt runs with its own
sources list, lists and cache directories under the cache directory, so neither root nor a
change to /etc/apt is needed. FetchImpossible means the mirror could not be reached: the caller
skips.
"""

import glob
import os
import re
import subprocess


class FetchImpossible(Exception):
    pass


def _codename():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("VERSION_CODENAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "bookworm"


def _one_line_entries(path):
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^(deb|deb-src)\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
            if m:
                opts = (m.group(2) or "").strip()
                signed = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
                yield {"types": [m.group(1)], "uris": [m.group(3)], "suites": [m.group(4)],
                       "components": m.group(5).split(),
                       "signed_by": signed.group(1).rstrip("]") if signed else None}


def _deb822_entries(path):
    with open(path) as f:
        text = f.read()
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if not fields or fields.get("enabled", "yes").lower() == "no":
            continue
        yield {"types": fields.get("types", "").split(), "uris": fields.get("uris", "").split(),
               "suites": fields.get("suites", "").split(),
               "components": fields.get("components", "").split(),
               "signed_by": fields.get("signed-by") or None}


def debian_source_lines():
    """deb-src lines for the configured Debian mirror(s) of this release's main component."""
    codename = _codename()
    entries = []
    paths = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for p in paths:
        if os.path.isfile(p):
            entries += list(_one_line_entries(p))
    for p in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        entries += list(_deb822_entries(p))
    lines = []
    for e in entries:
        if "main" not in e["components"] or codename not in e["suites"]:
            continue
        if not ({"deb", "deb-src"} & set(e["types"])):
            continue
        for uri in e["uris"]:
            if "security" in uri:
                continue
            opt = f"[signed-by={e['signed_by']}] " if e["signed_by"] and "\n" not in e["signed_by"] else ""
            line = f"deb-src {opt}{uri} {codename} main"
            if line not in lines:
                lines.append(line)
    return lines


def apt_options(apt_dir):
    opts = ["-o", f"Dir::Etc::SourceList={apt_dir}/sources.list",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={apt_dir}/lists",
            "-o", f"Dir::Cache={apt_dir}/cache",
            "-o", "Acquire::Retries=2", "-o", "Acquire::http::Timeout=30"]
    if os.geteuid() == 0:  # apt would hand the download to _apt, who cannot write the cache directory
        opts += ["-o", "APT::Sandbox::User=root"]
    return opts


def fetch(package, cache_dir, log):
    """Returns the extracted source tree of `package` under cache_dir/src (fetched once)."""
    src_root = os.path.join(cache_dir, "src")
    for d in sorted(glob.glob(os.path.join(src_root, package + "-*"))):
        if os.path.exists(os.path.join(d, ".trapsan-oss-complete")):
            return d
    lines = debian_source_lines()
    if not lines:
        raise FetchImpossible("no Debian mirror for the main component is configured in /etc/apt")
    apt_dir = os.path.join(cache_dir, "apt")
    for sub in ("lists/partial", "cache/archives/partial"):
        os.makedirs(os.path.join(apt_dir, sub), exist_ok=True)
    with open(os.path.join(apt_dir, "sources.list"), "w") as f:
        f.write("\n".join(lines) + "\n")
    opts = apt_options(apt_dir)
    log(f"fetching the source package {package} ({'; '.join(lines)})")
    r = subprocess.run(["apt-get", *opts, "-q", "update"], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or re.search(r"^(Err|W: Failed)", r.stdout + r.stderr, re.M):
        raise FetchImpossible("apt-get update of the deb-src index failed:\n" + (r.stdout + r.stderr)[-1500:])
    work = os.path.join(src_root, ".download")
    subprocess.run(["rm", "-rf", work], check=True)
    os.makedirs(work)
    r = subprocess.run(["apt-get", *opts, "-q", "source", package], cwd=work, capture_output=True,
                       text=True, timeout=600)
    trees = [d for d in glob.glob(os.path.join(work, package + "-*")) if os.path.isdir(d)]
    if r.returncode != 0 or len(trees) != 1:
        raise FetchImpossible(f"apt-get source {package} failed:\n" + (r.stdout + r.stderr)[-1500:])
    final = os.path.join(src_root, os.path.basename(trees[0]))
    subprocess.run(["rm", "-rf", final], check=True)
    for f in os.listdir(work):
        os.rename(os.path.join(work, f), os.path.join(src_root, f))
    os.rmdir(work)
    open(os.path.join(final, ".trapsan-oss-complete"), "w").close()
    return final


def debian_version(src_tree):
    """The source package's version, from debian/changelog's first line."""
    with open(os.path.join(src_tree, "debian", "changelog")) as f:
        m = re.match(r"^\S+ \(([^)]+)\)", f.readline())
    return m.group(1) if m else "unknown"
