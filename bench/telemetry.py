"""Telemetry during a run, sampled in the background into ``telemetry.csv``:

- any Linux: RAM and swap used (/proc/meminfo) and the hottest thermal zone;
- a Jetson: ``tegrastats`` (unified RAM, swap, GPU load, temperatures, power per rail);
- an NVIDIA GPU: ``nvidia-smi`` streaming (GPU memory, load, board power, temperature).

Rows taken while a cell's timed passes run carry the cell's name, so each cell gets its
peak system memory (Jetson unified memory included), mean power and energy per sample.
The samplers are other processes or a thread that sleeps between reads; the worker that is
timed is a separate process. Device side: Python 3.6, standard library only.
"""
import csv
import glob
import os
import re
import shutil
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional

COLUMNS = ["t_s", "cell", "source", "ram_used_mb", "swap_used_mb", "gpu_mem_mb", "gpu_load_pct",
           "power_mw", "temp_c", "rails"]
# the rail that measures the whole module's input, by Jetson generation
INPUT_RAILS = ("POM_5V_IN", "VDD_IN", "VIN_SYS_5V0", "SYS5V")

_RAM = re.compile(r"RAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"SWAP (\d+)/(\d+)MB")
_GR3D = re.compile(r"GR3D_FREQ (\d+)%")
_TEMP = re.compile(r"\b([A-Za-z_0-9]+)@(-?[\d.]+)C\b")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]+) (\d+)(?:mW)?/(\d+)(?:mW)?\b")


def parse_tegrastats(line: str) -> Dict[str, Any]:
    """One tegrastats line (Nano, Xavier and Orin formats) -> RAM and swap used (MB), GPU
    load (%), the hottest real sensor (°C), instantaneous power per rail (mW) and the
    module's input power (mW) where a known input rail is present, else the sum of rails."""
    out: Dict[str, Any] = {}
    ram, swap, gr3d = _RAM.search(line), _SWAP.search(line), _GR3D.search(line)
    if ram:
        out["ram_used_mb"] = float(ram.group(1))
    if swap:
        out["swap_used_mb"] = float(swap.group(1))
    if gr3d:
        out["gpu_load_pct"] = float(gr3d.group(1))
    temps = [float(t) for name, t in _TEMP.findall(line) if name not in ("PMIC",) and -40 < float(t) < 150]
    if temps:
        out["temp_c"] = max(temps)
    rails = {name: int(now) for name, now, _ in _RAIL.findall(line) if name not in ("RAM", "SWAP")}
    if rails:
        out["rails"] = rails
        inputs = [rails[r] for r in INPUT_RAILS if r in rails]
        out["power_mw"] = float(inputs[0] if inputs else sum(rails.values()))
    return out


def parse_nvidia_smi(line: str) -> Dict[str, Any]:
    """'memory.used [MiB], utilization.gpu [%], power.draw [W], temperature.gpu' (csv,
    noheader, nounits) -> columns."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 4:
        return {}
    values = []
    for p in parts:
        try:
            values.append(float(p))
        except ValueError:
            values.append(None)
    mem, load, power, temp = values
    return {k: v for k, v in (("gpu_mem_mb", mem), ("gpu_load_pct", load),
                              ("power_mw", power * 1000 if power is not None else None), ("temp_c", temp))
            if v is not None}


def read_proc() -> Dict[str, Any]:
    """RAM used (MemTotal - MemAvailable) and swap used, in MB; the hottest thermal zone."""
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0]) / 1024.0
    out = {"ram_used_mb": info["MemTotal"] - info.get("MemAvailable", info.get("MemFree", 0)),
           "swap_used_mb": info.get("SwapTotal", 0) - info.get("SwapFree", 0)}
    temps = []
    for path in glob.glob("/sys/class/thermal/thermal_zone*/temp"):
        try:
            with open(path) as f:
                temps.append(int(f.read().strip()) / 1000.0)
        except (OSError, ValueError):
            pass
    if temps:
        out["temp_c"] = max(temps)
    return out


class Telemetry:
    """Samples every ``interval_s`` into ``path`` until ``stop()``; ``cell`` names the cell
    whose timed passes are running (None between them)."""

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.cell: Optional[str] = None
        self.sources: List[str] = ["proc"]
        self._rows: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.monotonic()
        fresh = not os.path.exists(path)
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, COLUMNS, lineterminator="\n")
        if fresh:
            self._writer.writeheader()
        self._procs: List[subprocess.Popen] = []
        self._threads = [threading.Thread(target=self._poll_proc, daemon=True)]
        ms = str(int(interval_s * 1000))
        if shutil.which("tegrastats"):
            self._stream(["tegrastats", "--interval", ms], "tegrastats", parse_tegrastats)
        elif shutil.which("nvidia-smi"):
            self._stream(["nvidia-smi", "--query-gpu=memory.used,utilization.gpu,power.draw,temperature.gpu",
                          "--format=csv,noheader,nounits", "-lms", ms], "nvidia-smi", parse_nvidia_smi)
        for thread in self._threads:
            thread.start()

    def _stream(self, args: List[str], source: str, parse) -> None:
        try:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
        except OSError:
            return
        self._procs.append(proc)
        self.sources.append(source)

        def pump() -> None:
            for line in proc.stdout:
                values = parse(line)
                if values:
                    self._record(source, values)

        self._threads.append(threading.Thread(target=pump, daemon=True))

    def _poll_proc(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._record("proc", read_proc())

    def _record(self, source: str, values: Dict[str, Any]) -> None:
        row = dict(values, t_s=round(time.monotonic() - self._started, 3), cell=self.cell or "", source=source)
        with self._lock:
            self._rows.append(row)
            self._writer.writerow(dict(row, rails=" ".join("%s=%d" % kv for kv in sorted((row.get("rails") or {}).items()))))
            self._file.flush()

    def cell_stats(self, cell: str) -> Dict[str, Optional[float]]:
        """Peak system RAM and swap, peak GPU memory, mean power (W) over the cell's rows, and
        what that power covers: ``module`` (a Jetson's input rail: CPU, GPU and memory) or
        ``gpu`` (an NVIDIA board alone, from nvidia-smi)."""
        with self._lock:
            rows = [r for r in self._rows if r["cell"] == cell]
        peak = lambda key: max((r[key] for r in rows if r.get(key) is not None), default=None)  # noqa: E731
        powered = [r for r in rows if r.get("power_mw") is not None]
        sources = {r["source"] for r in powered}
        return {"sys_peak_ram_mb": peak("ram_used_mb"), "sys_peak_swap_mb": peak("swap_used_mb"),
                "gpu_peak_mem_mb": peak("gpu_mem_mb"),
                "mean_power_w": sum(r["power_mw"] for r in powered) / len(powered) / 1000.0 if powered else None,
                "power_scope": ("module" if "tegrastats" in sources else "gpu") if sources else None,
                "telemetry_rows": len(rows)}

    def stop(self) -> None:
        self._stop.set()
        for proc in self._procs:
            proc.terminate()
            proc.wait()
        self._threads[0].join()
        self._file.close()
