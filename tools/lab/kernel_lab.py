"""kernel-lab: build small kernels with and without Linux 6.1's perf SIGTRAP
fix, boot them in the lab guest and collect trapsan-kcheck's verdicts.

    tools/lab/kernel-lab [check] [--smp 2,4] [--kinds stock,reverted] ...
    tools/lab/kernel-lab build [--kinds ...]      # only fetch and build
    tools/lab/kernel-lab path KIND                # the cached vmlinux

Everything comes from Debian packages: a deb-src entry for the Debian mirror
apt already uses is added when missing, `apt-get source linux` (6.1) fetches
the kernel source, and the kernels are built from one config (tinyconfig plus
tools/lab/kernel/config.fragment): *stock*, and *reverted* with
tools/lab/kernel/revert-missing-sigtraps.patch applied. Kernels are cached by
source version, config and patches (a second run boots them at once). Each is
booted with tools/lab/trapsan-lab --kernel (qemu TCG) with 2 and 4 vCPUs and
kcheck's JSON is collected. See docs/kernel.md, "The kernel lab".

The pure pieces (config fragments, deb-src entries, JSON and dmesg parsing,
the table) are tested without a kernel by kernel_lab_test.py.
"""

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KDIR = os.path.join(HERE, "kernel")
FRAGMENT = os.path.join(KDIR, "config.fragment")
LAB = os.path.join(HERE, "trapsan-lab")
# The kernels: name -> patches (in tools/lab/kernel/) applied to the source.
KINDS = {"stock": [], "reverted": ["revert-missing-sigtraps.patch"]}
SERIES = "6.1."          # the Debian source versions wanted
ARCH = "x86_64"
# Bump when the way a kernel is built changes (part of the cache key).
BUILD_FORMAT = "1"
DEB_SRC_FILE = "/etc/apt/sources.list.d/trapsan-lab-src.sources"


def say(msg):
    print(f"kernel-lab: {msg}", file=sys.stderr, flush=True)


class LabError(Exception):
    pass


# --- Kernel configs ---------------------------------------------------------

CONFIG_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
CONFIG_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def parse_config(text):
    """A .config or fragment as {name: value}; 'n' for '# ... is not set'."""
    out = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = CONFIG_LINE.match(line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[m.group(1)] = value
            continue
        m = CONFIG_UNSET.match(line)
        if m:
            out[m.group(1)] = "n"
            continue
        if line.startswith("#"):
            continue
        raise LabError(f"config line {n} is not CONFIG_X=value: {raw!r}")
    return out


def config_mismatches(wanted, got):
    """The options of `wanted` that `got` (a final .config) lacks or sets
    otherwise: [(name, wanted, got or 'n')]."""
    return [(k, v, got.get(k, "n")) for k, v in sorted(wanted.items())
            if got.get(k, "n") != v]


def allconfig_text(tiny_parts, fragment_text):
    """The KCONFIG_ALLCONFIG file of `make allnoconfig`: tinyconfig's parts
    first, ours last (a later line wins)."""
    return "".join(p if p.endswith("\n") else p + "\n"
                   for p in [*tiny_parts, fragment_text])


# --- Debian source ----------------------------------------------------------

def deb_src_stanzas(sources_text):
    """deb-src stanzas (deb822) for the Debian `deb` entries of a
    sources.list (one-line) or .sources (deb822) text."""
    out = []

    def add(uri, suites, comps, signed):
        if "debian" not in uri:
            return
        s = (f"Types: deb-src\nURIs: {uri}\nSuites: {' '.join(suites)}\n"
             f"Components: {' '.join(comps)}\n")
        if signed:
            s += f"Signed-By: {signed}\n"
        if s not in out:
            out.append(s)

    if re.search(r"^Types:", sources_text, re.M):
        for block in re.split(r"\n\s*\n", sources_text):
            fields = {}
            for line in block.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                add(uri, fields.get("suites", "").split(),
                    fields.get("components", "").split(),
                    fields.get("signed-by", ""))
    else:
        for line in sources_text.splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
            if m:
                signed = ""
                opt = re.search(r"signed-by=(\S+)", m.group(1) or "")
                if opt:
                    signed = opt.group(1).rstrip("]")
                add(m.group(2), [m.group(3)], m.group(4).split(), signed)
    return out


def apt_env():
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def source_versions():
    out = subprocess.run(["apt-cache", "showsrc", "linux"],
                         capture_output=True, text=True).stdout
    return parse_showsrc_versions(out)


def parse_showsrc_versions(text):
    """The 6.1 versions `apt-cache showsrc linux` lists, newest first."""
    versions = sorted({m for m in re.findall(r"^Version: (\S+)$", text, re.M)
                       if m.startswith(SERIES)},
                      key=functools.cmp_to_key(dpkg_compare), reverse=True)
    return versions


def dpkg_compare(a, b):
    if a == b:
        return 0
    lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode
    return -1 if lt == 0 else 1


def ensure_deb_src():
    """A deb-src entry for the Debian mirror apt uses, then apt-get update."""
    if source_versions():
        return
    texts = []
    if os.path.exists("/etc/apt/sources.list"):
        texts.append(open("/etc/apt/sources.list").read())
    d = "/etc/apt/sources.list.d"
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.endswith((".list", ".sources")) and \
                os.path.join(d, name) != DEB_SRC_FILE:
            texts.append(open(os.path.join(d, name)).read())
    stanzas = []
    for t in texts:
        for s in deb_src_stanzas(t):
            if s not in stanzas:
                stanzas.append(s)
    if not stanzas:
        raise LabError("no Debian 'deb' entry in apt's sources to add a "
                       "deb-src entry for")
    if os.geteuid() != 0:
        raise LabError(f"apt has no deb-src entry; as root write "
                       f"{DEB_SRC_FILE}:\n" + "\n".join(stanzas))
    say(f"adding {DEB_SRC_FILE} (deb-src for the configured Debian mirror)")
    with open(DEB_SRC_FILE, "w") as f:
        f.write("# Added by trapsan tools/lab/kernel-lab: source packages of "
                "the configured Debian mirror\n\n" + "\n".join(stanzas))
    subprocess.run(["apt-get", "update", "-q"], env=apt_env(),
                   stdout=subprocess.DEVNULL, check=True)
    if not source_versions():
        raise LabError("apt-get update gave no 'linux' source package")


def upstream_of(version):
    return version.split("-", 1)[0]


def ready_sources(srcdir):
    out = []
    for name in os.listdir(srcdir) if os.path.isdir(srcdir) else []:
        if name.startswith("linux-") and os.path.exists(
                os.path.join(srcdir, name, ".trapsan-ready")):
            out.append(open(os.path.join(srcdir, name,
                                         ".trapsan-ready")).read().strip())
    return sorted(out, key=functools.cmp_to_key(dpkg_compare), reverse=True)


def fetch_source(cache, want=None, refresh=False):
    """The extracted Debian linux source (Debian's patches applied):
    (version, path). Reuses the newest one fetched before unless `want` or
    `refresh`; else the newest 6.1 version the mirror serves."""
    srcdir = os.path.join(cache, "src")
    os.makedirs(srcdir, exist_ok=True)
    have = ready_sources(srcdir)
    if want and want in have:
        return want, os.path.join(srcdir, f"linux-{upstream_of(want)}")
    if have and not want and not refresh:
        return have[0], os.path.join(srcdir, f"linux-{upstream_of(have[0])}")
    ensure_deb_src()
    candidates = [want] if want else source_versions()[:6]
    dl = os.path.join(srcdir, "download")
    for version in candidates:
        shutil.rmtree(dl, ignore_errors=True)
        os.makedirs(dl)
        os.chmod(dl, 0o777)  # apt's sandbox user downloads there
        say(f"apt-get source linux={version} (about 140 MB)")
        r = subprocess.run(["apt-get", "source", "--download-only", "-q",
                            f"linux={version}"], cwd=dl, env=apt_env(),
                           stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            say(f"linux={version} could not be downloaded; trying an older "
                "one")
            continue
        tree = os.path.join(srcdir, f"linux-{upstream_of(version)}")
        shutil.rmtree(tree, ignore_errors=True)
        dsc = [f for f in os.listdir(dl) if f.endswith(".dsc")][0]
        say(f"unpacking {dsc} (dpkg-source -x: Debian's patches applied)")
        subprocess.run(["nice", "-n", "10", "dpkg-source", "-x", dsc, tree],
                       cwd=dl, stdout=subprocess.DEVNULL, check=True)
        with open(os.path.join(tree, ".trapsan-ready"), "w") as f:
            f.write(version + "\n")
        shutil.rmtree(dl, ignore_errors=True)
        return version, tree
    raise LabError(f"none of the linux source versions {candidates} could be "
                   "downloaded")


# --- Building ---------------------------------------------------------------

def read(path):
    with open(path) as f:
        return f.read()


def patch_paths(kind):
    return [os.path.join(KDIR, p) for p in KINDS[kind]]


def patch_targets(text):
    """The files a unified diff writes (its '+++ b/PATH' lines), in order."""
    out = []
    for m in re.finditer(r"^\+\+\+ (?:b/)?(\S+)", text, re.M):
        if m.group(1) != "/dev/null" and m.group(1) not in out:
            out.append(m.group(1))
    return out


def patched_files(kind):
    return [f for p in patch_paths(kind) for f in patch_targets(read(p))]


def kernel_key(version, fragment_text, patch_texts):
    h = hashlib.sha256()
    for part in (BUILD_FORMAT, version, fragment_text, *patch_texts):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def out_dir(cache, version, kind):
    key = kernel_key(version, read(FRAGMENT),
                     [read(p) for p in patch_paths(kind)])
    return os.path.join(cache, "out", f"{upstream_of(version)}-{kind}-{key}")


def tree_path(cache, version, kind):
    texts = [read(p) for p in patch_paths(kind)]
    tag = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:8]
    return os.path.join(cache, "trees", f"{upstream_of(version)}-{kind}-{tag}")


def prepare_tree(cache, version, src, kind):
    """A hard-linked copy of the pristine source with the kind's patches
    applied (patch writes new files, so the pristine tree is untouched). The
    build directory is its subdirectory `build`: the kernel's Makefile then
    uses a relative srctree, and the stock kernel's objects are valid for a
    patched tree (make rebuilds what the patches touched: newer files)."""
    tree = tree_path(cache, version, kind)
    tag = os.path.basename(tree).rsplit("-", 1)[1]
    if os.path.exists(os.path.join(tree, ".trapsan-tree")):
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(os.path.dirname(tree), exist_ok=True)
    subprocess.run(["cp", "-al", src, tree], check=True)
    os.unlink(os.path.join(tree, ".trapsan-ready"))
    for p in patch_paths(kind):
        say(f"{kind}: applying {os.path.basename(p)}")
        r = subprocess.run(["patch", "-p1", "--forward", "--batch",
                            "--no-backup-if-mismatch", "-i", p], cwd=tree,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError(f"{os.path.basename(p)} does not apply to linux "
                           f"{version}:\n{r.stdout}{r.stderr}")
    with open(os.path.join(tree, ".trapsan-tree"), "w") as f:
        f.write(f"{version} {kind} {tag}\n")
    return tree


# The build's niceness: kernel-lab --nice (the machine is shared).
NICE = 10


def make_cmd(tree, jobs, *targets):
    return ["nice", "-n", str(NICE), "make", "-C", tree,
            f"O={os.path.join(tree, 'build')}", f"ARCH={ARCH}",
            f"-j{jobs}", *targets]


def configure(tree, jobs, log):
    """tinyconfig plus our fragment, in tree/build; checks every option of
    the fragment made it into the final .config."""
    parts = [read(os.path.join(tree, p)) for p in
             ("kernel/configs/tiny-base.config", "kernel/configs/tiny.config",
              "arch/x86/configs/tiny.config")]
    fragment = read(FRAGMENT)
    build = os.path.join(tree, "build")
    os.makedirs(build, exist_ok=True)
    allconfig = os.path.join(build, "trapsan-allconfig")
    text = allconfig_text(parts, fragment)
    old = os.path.join(build, ".config")
    if os.path.exists(allconfig) and read(allconfig) == text and \
            os.path.exists(old):
        return  # configured from the same inputs: leave timestamps alone
    with open(allconfig, "w") as f:
        f.write(text)
    subprocess.run(make_cmd(tree, jobs, f"KCONFIG_ALLCONFIG={allconfig}",
                            "allnoconfig"), stdout=log, stderr=log, check=True)
    bad = config_mismatches(parse_config(fragment), parse_config(read(old)))
    if bad:
        raise LabError("the kernel config lacks options the fragment asks "
                       "for (a dependency is missing?): " +
                       ", ".join(f"{k}={w} (got {g})" for k, w, g in bad))


def build_kernel(cache, version, src, kind, jobs):
    """The kind's vmlinux, built once and cached: its out directory."""
    out = out_dir(cache, version, kind)
    if os.path.exists(os.path.join(out, "ready")):
        return out
    tree = prepare_tree(cache, version, src, kind)
    build = os.path.join(tree, "build")
    # Start from the stock kernel's finished build of the same source: the
    # objects the patches do not touch are reused (make sees only the
    # patched files as newer). Only from stock: its objects are all of the
    # pristine files.
    seed = os.path.join(tree_path(cache, version, "stock"), "build")
    mark = os.path.join(build, ".trapsan-kind")
    mine = os.path.exists(mark) and read(mark).strip() == kind
    if KINDS[kind] and not mine and \
            os.path.exists(os.path.join(seed, "vmlinux")):
        say(f"{kind}: starting from the stock kernel's objects")
        shutil.rmtree(build, ignore_errors=True)
        subprocess.run(["cp", "-a", seed, build], check=True)
        # objtool's own build records absolute paths, so it is linked again
        # here; every object depends on the objtool binary: give the new one
        # the old one's time, or everything is compiled again.
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "build.log"), "a") as log:
            subprocess.run(make_cmd(tree, jobs, "tools/objtool"), stdout=log,
                           stderr=subprocess.STDOUT, check=True)
        # Every file of objtool's build, not only the binary: its inputs
        # (libsubcmd.a, objtool-in.o) newer than it would link it again in
        # `make vmlinux`'s own DESCEND objtool.
        stamp = os.path.join(seed, "tools", "objtool", "objtool")
        for d, _, files in os.walk(os.path.join(build, "tools", "objtool")):
            for name in files:
                os.utime(os.path.join(d, name),
                         ns=(os.stat(stamp).st_atime_ns,
                             os.stat(stamp).st_mtime_ns),
                         follow_symlinks=False)
        # The patched sources were written before the stock objects were
        # compiled: make them newer than those objects, or make keeps the
        # stock kernel's objects for them.
        for path in patched_files(kind):
            os.utime(os.path.join(tree, path))
    os.makedirs(out, exist_ok=True)
    os.makedirs(build, exist_ok=True)
    with open(mark, "w") as f:
        f.write(kind + "\n")
    logpath = os.path.join(out, "build.log")
    start = time.monotonic()
    with open(logpath, "a") as log:
        configure(tree, jobs, log)
        say(f"{kind}: make -j{jobs} vmlinux (log: {logpath})")
        proc = subprocess.Popen(make_cmd(tree, jobs, "vmlinux"), stdout=log,
                                stderr=subprocess.STDOUT)
        last = start
        while proc.poll() is None:
            time.sleep(5)
            if time.monotonic() - last >= 120:
                last = time.monotonic()
                say(f"{kind}: building, {last - start:.0f} s so far")
        if proc.returncode != 0:
            raise LabError(f"{kind}: the kernel build failed, see {logpath}")
    took = time.monotonic() - start
    shutil.copy(os.path.join(build, "vmlinux"), os.path.join(out, "vmlinux"))
    shutil.copy(os.path.join(build, ".config"), os.path.join(out, "config"))
    for p in patch_paths(kind):
        shutil.copy(p, out)
    meta = {"source": f"linux {version} (Debian)", "kind": kind,
            "patches": KINDS[kind], "build_seconds": round(took, 1),
            "jobs": jobs, "fragment": os.path.relpath(FRAGMENT, REPO)}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    open(os.path.join(out, "ready"), "w").write(kind + "\n")
    say(f"{kind}: built in {took:.0f} s: {out}/vmlinux")
    return out


class CacheLock:
    def __init__(self, cache):
        os.makedirs(cache, exist_ok=True)
        self.f = open(os.path.join(cache, "lock"), "w")

    def __enter__(self):
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()
