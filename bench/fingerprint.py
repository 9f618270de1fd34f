"""What the run ran on: CPU, memory, GPU and driver, Jetson model and L4T release, OS,
Python, library versions, git commit. Reads /proc and the device tree, asks nvidia-smi if
present; never fails: a missing piece is recorded as missing."""
import glob
import os
import platform
import re
import subprocess
from typing import Any, Dict, List, Optional

from bench.versions import package_versions

RUNNER_PACKAGES = ("numpy", "opencv-python", "opencv-python-headless", "rapidfuzz", "PyYAML", "tqdm")


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None


def _command(args: List[str], cwd: Optional[str] = None) -> Optional[str]:
    try:
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd,
                              timeout=10, check=True).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    info = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model"):
        match = re.search(r"^%s\s*:\s*(.+)$" % key, info, re.M)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def memory_gb() -> Optional[float]:
    match = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo") or "", re.M)
    return round(int(match.group(1)) / 2.0 ** 20, 2) if match else None


GPU_FIELDS = ("name", "driver_version", "memory.total", "clocks.sm", "clocks.max.sm", "clocks.mem",
              "clocks.max.mem", "pstate", "power.limit", "compute_cap")


def parse_gpus(query: str, summary: str = "") -> List[Dict[str, str]]:
    """``nvidia-smi --query-gpu=<GPU_FIELDS> --format=csv,noheader`` rows, plus the CUDA
    version the driver supports from plain ``nvidia-smi``'s header. A field this driver
    does not know reads "[N/A]" or is missing; it is kept as given or left out."""
    names = ["name", "driver", "memory", "sm_clock", "sm_clock_max", "mem_clock", "mem_clock_max", "pstate",
             "power_limit", "compute_capability"]
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", summary)
    out = []
    for line in query.splitlines():
        values = [v.strip() for v in line.split(", ")]
        if len(values) >= 3 and values[0]:
            gpu = dict(zip(names, values))
            if cuda:
                gpu["cuda_driver"] = cuda.group(1)
            out.append(gpu)
    return out


def gpus() -> List[Dict[str, str]]:
    """NVIDIA GPUs with driver, memory, clocks (now and maximum), power limit."""
    query = _command(["nvidia-smi", "--query-gpu=" + ",".join(GPU_FIELDS), "--format=csv,noheader"])
    if query is None:  # an older driver that refuses a field: the basic ones
        query = _command(["nvidia-smi", "--query-gpu=" + ",".join(GPU_FIELDS[:3]), "--format=csv,noheader"])
    return parse_gpus(query or "", _command(["nvidia-smi"]) or "") if query else []


def power_mode(nvpmodel_output: str) -> Dict[str, Any]:
    """``nvpmodel -q``: 'NV Power Mode: MAXN' then the mode's id."""
    name = re.search(r"Power Mode:\s*(\S+)", nvpmodel_output)
    ident = re.search(r"^\s*(\d+)\s*$", nvpmodel_output, re.M)
    return {"name": name.group(1) if name else None, "id": int(ident.group(1)) if ident else None}


def clocks_locked(root: str = "/") -> Optional[bool]:
    """True when every CPU's minimum frequency equals its maximum, as ``jetson_clocks`` sets."""
    cpus = sorted(glob.glob(os.path.join(root, "sys/devices/system/cpu/cpu[0-9]*/cpufreq")))
    pairs = [(_read(os.path.join(c, "scaling_min_freq")), _read(os.path.join(c, "scaling_max_freq"))) for c in cpus]
    pairs = [p for p in pairs if p[0] and p[1]]
    return all(lo == hi for lo, hi in pairs) if pairs else None


def jetson(root: str = "/") -> Optional[Dict[str, Any]]:
    """Model (device tree), L4T release, power mode and whether the clocks are locked."""
    model = _read(os.path.join(root, "proc/device-tree/model"))
    release = _read(os.path.join(root, "etc/nv_tegra_release"))
    if not model and not release:
        return None
    return {"model": model, "l4t": release.splitlines()[0] if release else None,
            "power_mode": power_mode(_command(["nvpmodel", "-q"]) or ""), "clocks_locked": clocks_locked(root)}


def timing_warnings(info: Dict[str, Any]) -> List[str]:
    """What makes this machine's timings unrepresentative, said before timing starts."""
    out = []
    board = info.get("jetson")
    if board:
        mode = board.get("power_mode") or {}
        if mode.get("id") not in (0, None) or (mode.get("name") and "MAXN" not in mode["name"]):
            out.append("Jetson power mode is %s (id %s), not the maximum (MAXN, id 0): run "
                       "`sudo nvpmodel -m 0` for the published figures" % (mode.get("name"), mode.get("id")))
        if mode.get("id") is None:
            out.append("Jetson power mode unknown (`nvpmodel -q` gave nothing)")
        if board.get("clocks_locked") is False:
            out.append("Jetson clocks are not locked: run `sudo jetson_clocks` before timing")
    return out


def os_name() -> str:
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)', _read("/etc/os-release") or "", re.M)
    return match.group(1) if match else platform.platform()


SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".sh")  # untracked files of these kinds change what a run runs


def git_commit(repo: str) -> Dict[str, Any]:
    """The commit, and whether the harness differs from it: a changed tracked file, or an
    untracked source file git does not ignore (an adapter a user has added, say)."""
    commit = _command(["git", "rev-parse", "HEAD"], cwd=repo)
    changed = _command(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo)
    untracked = _command(["git", "ls-files", "--others", "--exclude-standard"], cwd=repo)
    if changed is None:
        return {"commit": commit, "dirty": None}
    added = [p for p in (untracked or "").splitlines() if p.endswith(SOURCE_SUFFIXES)]
    return {"commit": commit, "dirty": bool(changed) or bool(added)}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "device"


def device_name(info: Dict[str, Any]) -> str:
    """A folder name for the machine: the Jetson model, else the GPU, else the CPU."""
    if info.get("jetson") and info["jetson"].get("model"):
        return slug(info["jetson"]["model"].replace("NVIDIA ", ""))
    if info.get("gpus"):
        return slug(info["gpus"][0]["name"].replace("NVIDIA ", ""))
    cpu = re.sub(r"\((R|TM)\)|CPU|Processor|@.*$|\d+-Core", " ", info["cpu"]["model"], flags=re.I)
    return slug("cpu " + cpu)


def fingerprint(repo: str) -> Dict[str, Any]:
    return {
        "hostname": platform.node(),
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "arch": platform.machine()},
        "memory_gb": memory_gb(),
        "gpus": gpus(),
        "jetson": jetson(),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": package_versions(RUNNER_PACKAGES),
        "git": git_commit(repo),
    }
