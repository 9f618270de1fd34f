"""The matrix runner: each engine x mode cell runs in its own worker process (its own Python
environment if the suite names one), so a crash, a non-zero exit, a signal such as the
out-of-memory killer's, or a timeout fails that cell alone, with the reason and the tail of
its stderr, and the matrix goes on. Every sample is written and flushed as it arrives, so a
killed run loses at most the sample in flight; ``resume`` redoes nothing already recorded.
One runner writes a run folder at a time (bench/runfolder.py). Ctrl-C, or a disk that fills,
stops the worker at once and keeps every sample recorded before it (``RunStopped``).
"""
import errno
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from tqdm import tqdm

from adapters.base import CPU_MODES, THREADS_ENV
from bench import config as cfg
from bench import metrics, results, runfolder
from bench.dataset import Entry, ManifestError, dataset_hashes, open_dataset
from bench.summary import cell_summary, format_table
from bench.telemetry import Telemetry
from bench.worker import adapter_class

STDERR_TAIL_LINES = 25


class RunStopped(Exception):
    """The run stopped before its end (Ctrl-C, a full disk); what was recorded is kept and
    the message says how to resume. ``exit_code``: 130 for Ctrl-C, 2 otherwise."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _stderr_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 16384))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "\n".join(line for line in lines[-STDERR_TAIL_LINES:])


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (out of memory? see dmesg)" if name == "SIGKILL" else ""
        return "worker killed by %s%s" % (name, hint)
    return "worker exited with code %d" % returncode


def thread_environment(threads: Optional[int]) -> Dict[str, str]:
    """What a worker's environment says of a cell's ``threads``: the harness's own variable
    (adapters.base.threads) and those that OpenMP, BLAS and Tesseract read at start-up."""
    if threads is None:
        return {}
    names = (THREADS_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_THREAD_LIMIT")
    return {name: str(threads) for name in names}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


class Run:
    """One run folder being filled."""

    def __init__(self, run_dir: str, meta: Dict[str, Any], entries: List[Entry], quiet: bool,
                 lock: runfolder.RunLock) -> None:
        self.dir = run_dir
        self.lock = lock
        self.meta = meta
        self.config = meta["config"]
        self.entries = {e.sample_id: e for e in entries}
        self.order = [e.sample_id for e in entries]
        self.quiet = quiet
        self.cells_path = os.path.join(run_dir, "cells.json")
        self.cells_state: Dict[str, Dict[str, Any]] = results.read_json(self.cells_path, {})
        self.samples_path = os.path.join(run_dir, "samples.csv")
        self.done = results.done_keys(results.read_samples(self.samples_path))
        self.log = results.SampleLog(self.samples_path)
        self.telemetry: Optional[Telemetry] = None

    # -- one cell -------------------------------------------------------------------------
    def record(self, cell: cfg.Cell, event: Dict[str, Any]) -> None:
        key = (cell.engine, cell.mode, event["pass"], event["sample_id"])
        if key in self.done:  # recorded already: each sample once per pass
            return
        entry = self.entries[event["sample_id"]]
        norm = self.config["normalize"]
        truth = metrics.normalize(entry.text, **norm)
        c = metrics.counts(metrics.normalize(event["pred"], **norm), truth)
        ms = lambda v: "" if v is None else "%.3f" % v  # noqa: E731
        constrained = event.get("pred_grammar")
        self.log.write({
            "run_id": self.meta["run_id"], "device": self.meta["device"], "engine": cell.engine,
            "mode": cell.mode, "sample_id": entry.sample_id, "pass": event["pass"], "gt": entry.text,
            "pred": event["pred"], "correct": c.correct, "cer": "%.4f" % metrics.sample_cer(c),
            "t_pre_ms": ms(event["t_pre_ms"]), "t_infer_ms": ms(event["t_infer_ms"]),
            "t_total_ms": ms(event["t_total_ms"]), "error": " ".join(event["error"].split()),
            "batch_n": event.get("batch_n") or "", "queue_ms": ms(event.get("queue_ms")),
            "pred_grammar": "" if constrained is None else constrained,
            "correct_grammar": "" if constrained is None else int(metrics.normalize(constrained, **norm) == truth),
            "grammar_far": "" if event.get("grammar_far") is None else event["grammar_far"],
            "t_post_ms": ms(event.get("t_post_ms")), "t_det_ms": ms(event.get("t_det_ms")),
            "t_rec_ms": ms(event.get("t_rec_ms"))})
        self.done.add(key)

    def run_cell(self, cell: cfg.Cell, todo: List[Tuple[int, str]]) -> Dict[str, Any]:
        cls = adapter_class(cell.adapter)
        if cell.mode not in cls.modes:
            return {"status": "skipped", "reason": cls.mode_notes.get(cell.mode) or
                    "%s has no %s mode" % (cell.engine, cell.mode)}
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        log_path = os.path.join(self.dir, "logs", "%s-%s.log" % (cell.engine, cell.mode))
        spec = {"adapter": cell.adapter, "mode": cell.mode, "options": cell.options,
                "dataset": self.meta["dataset"]["path"], "warmup": self.config["warmup"],
                "calibration": self.config["calibration"], "grammar": (self.meta.get("grammar") or {}).get("path"),
                "image": {"grayscale": self.config["grayscale"], "crop": self.config["crop"],
                          "variant": self.config["preprocess"]}, "todo": todo, "scenario": cell.scenario}
        env = dict(os.environ, PYTHONUNBUFFERED="1", ORT_DISABLE_TELEMETRY="1",
                   PYTHONPATH=os.pathsep.join(p for p in (cfg.REPO, os.environ.get("PYTHONPATH")) if p),
                   **thread_environment(cell.threads))
        if cell.mode in CPU_MODES:
            # a CPU cell takes no GPU memory or power: EasyOCR's Reader(gpu=False) opened a
            # CUDA context (527 MB of GPU memory, board power 72 -> 122 W) on an H100
            env["CUDA_VISIBLE_DEVICES"] = ""
        info: Dict[str, Any] = {"status": "failed", "reason": "", "started": time.time(), "scenario": cell.scenario,
                                "threads": cell.threads}
        with open(log_path, "ab") as log:
            try:
                proc = subprocess.Popen([cell.python, "-m", "bench.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=log, cwd=cfg.REPO, env=env,
                                        start_new_session=True)
            except OSError as exc:
                return dict(info, reason="cannot start %s: %s" % (cell.python, exc.strerror))
        events: "queue.Queue[Optional[bytes]]" = queue.Queue()

        def pump() -> None:
            for line in proc.stdout:
                events.put(line)
            events.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        bar = tqdm(total=self.config["warmup"] + len(todo), desc=cell.key, unit="img", leave=True,
                   mininterval=1.0, disable=self.quiet, file=sys.stderr)
        deadline = time.monotonic() + cell.timeout_s
        timed_out = aborted = False
        try:
            while True:
                try:
                    line = events.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    timed_out = True
                    break
                if line is None:
                    break
                try:
                    event = json.loads(line)
                    kind = event.pop("event")
                except (ValueError, KeyError, AttributeError):  # not an event: keep it in the log
                    with open(log_path, "ab") as log:
                        log.write(b"[stdout] " + line)
                    continue
                if kind == "sample":
                    if self.telemetry:
                        self.telemetry.cell = cell.key  # the timed passes have begun
                    self.record(cell, event)
                    bar.update()
                elif kind == "warmup":
                    bar.update()
                elif kind == "loaded":
                    info.update(event)
                elif kind == "error":  # the worker's own word on why it stops
                    info["error"] = event["reason"]
                elif kind == "skipped":
                    info.update(status="skipped", reason=event["reason"])
                elif kind == "done":
                    info.update(status="ok", peak_rss_mb=event["peak_rss_mb"])
        except BaseException:  # Ctrl-C, a full disk: stop the worker now, not at its timeout
            aborted = True
            raise
        finally:
            if self.telemetry:
                self.telemetry.cell = None
            bar.close()
            try:  # its output is closed: let it exit, within what is left of the timeout
                proc.wait(timeout=0 if timed_out or aborted else max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
        info["ended"] = time.time()
        if self.telemetry:
            info.update(self.telemetry.cell_stats(cell.key))
        tail = _stderr_tail(log_path)
        if timed_out:
            info.update(status="failed", reason="timed out after %g s (per-cell timeout_s)" % cell.timeout_s)
        elif info["status"] not in ("ok", "skipped") or returncode != 0:
            last = info.pop("error", "") or _last_line(tail)
            info.update(status="failed", reason=_exit_reason(returncode) + (": " + last if last else ""))
        if info["status"] == "failed":
            info["stderr_tail"] = tail
        return info

    # -- the matrix -----------------------------------------------------------------------
    def todo(self, cell: cfg.Cell) -> List[Tuple[int, str]]:
        return [(p, sid) for p in range(self.config["passes"]) for sid in self.order
                if (cell.engine, cell.mode, p, sid) not in self.done]

    def summarize(self, cells: List[cfg.Cell]) -> List[Dict[str, Any]]:
        rows: Dict[str, List[Dict[str, str]]] = {c.key: [] for c in cells}
        for row in results.read_samples(self.samples_path):
            rows.setdefault("%s/%s" % (row["engine"], row["mode"]), []).append(row)
        summary = []
        for cell in cells:
            state = dict(self.cells_state.get(cell.key, {}))
            cell_rows = rows[cell.key]
            errors = [r["error"] for r in cell_rows if r["error"]]
            if state.get("status") == "ok" and errors:
                note = "%d of %d samples failed, first: %s" % (len(errors), len(cell_rows), errors[0])
                state.update(status="failed" if len(errors) == len(cell_rows) else "ok", reason=note)
            summary.append(cell_summary(cell.engine, cell.mode, state, cell_rows, self.config["normalize"]))
        results.write_summary(os.path.join(self.dir, "summary.csv"), summary)
        return summary

    def _kept(self, cell: cfg.Cell) -> str:
        return ("%d samples of the run are recorded in %s; to finish it: python -m bench run --resume %s"
                % (len(self.done), self.samples_path, self.dir))

    def _stopped(self, cells: List[cfg.Cell], cell: cfg.Cell, why: str) -> None:
        """Leave the folder as a resume expects it: the stopped cell marked unfinished, the
        summary of what finished (best effort: the disk may be what stopped the run)."""
        self.cells_state[cell.key] = {"status": "interrupted", "reason": why}
        try:
            self.log.close()
            results.write_json(self.cells_path, self.cells_state)
            self.summarize(cells)
        except OSError:
            pass

    def dataset_changed(self) -> str:
        """Why the dataset is no longer the one the run started on (its recorded hashes), or ''."""
        try:
            changes = runfolder.dataset_changes(self.meta["dataset"],
                                                dataset_hashes(open_dataset(self.meta["dataset"]["path"])))
        except ManifestError as exc:
            changes = [str(exc)]
        return "the dataset changed since the run started: %s" % "; ".join(changes) if changes else ""

    def execute(self) -> List[Dict[str, Any]]:
        cells = cfg.cells(self.config, sys.executable)
        interval = self.config.get("telemetry_interval_s") or 0
        if interval > 0:
            self.telemetry = Telemetry(os.path.join(self.dir, "telemetry.csv"), interval)
            self.meta["telemetry_sources"] = self.telemetry.sources
        try:
            for cell in cells:
                status = self.cells_state.get(cell.key, {}).get("status")
                if status == "skipped" or (status == "ok" and not self.todo(cell)):
                    continue
                try:
                    changed = self.dataset_changed()
                    self.cells_state[cell.key] = {"status": "failed", "reason": changed} if changed else \
                        self.run_cell(cell, self.todo(cell))
                except KeyboardInterrupt:
                    self._stopped(cells, cell, "stopped by Ctrl-C (or SIGTERM)")
                    raise RunStopped("interrupted in cell %s; %s" % (cell.key, self._kept(cell)), 130)
                except OSError as exc:
                    if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                        raise
                    self._stopped(cells, cell, "stopped: %s" % exc.strerror)
                    raise RunStopped("cannot write to %s (%s) in cell %s; %s" % (
                        exc.filename or self.dir, exc.strerror, cell.key, self._kept(cell)), 2)
                results.write_json(self.cells_path, self.cells_state)
                self.summarize(cells)
        finally:
            if self.telemetry:
                self.telemetry.stop()
            self.log.close()
        self.meta["engines"] = {key: state["env"] for key, state in self.cells_state.items() if state.get("env")}
        self.meta["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        results.write_json(os.path.join(self.dir, "run.json"), self.meta)
        summary = self.summarize(cells)
        self.lock.release()
        return summary


def print_summary(run: Run, summary: List[Dict[str, Any]]) -> None:
    print(format_table(summary))
    print("\nresults: %s" % run.dir)
