"""The one training loop of every model this project trains or fine-tunes (the FOTS reader,
its line recogniser, the character classifier, EasyOCR's recogniser). What differs between
them lives in a ``Task``: its batches, its loss, its validation and how its weights are
written. What does not differs lives here: device, bfloat16 autocast, gradient clipping,
the optimiser's schedule, a wall-clock budget, logging, checkpoints, and keeping the
weights that validate best.

A run writes into its folder:

- ``model.pt`` (and whatever else ``Task.save`` writes): the weights of the best validation
  so far by the task's main figure, rewritten only when it improves;
- ``checkpoint.pt``: the latest weights with the optimiser, step, seconds and best figure,
  from which ``resume`` continues (kept out of git);
- ``train.log``: a JSON line every ``log_every`` steps (losses, learning rate, samples/s,
  the share of time spent waiting for data) and at every validation (its figures and a few
  truth | reading examples);
- ``config.json``: the task's settings, the command, steps, samples seen, seconds, and the
  validation of the weights kept.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time
from typing import Any, Dict, Iterator, NamedTuple, Optional

import numpy as np
import torch


class Task:
    """What one model's training supplies. ``main``: the validation figure that decides which
    weights are kept (higher is better)."""

    main = "valid_exact"

    def batches(self, step: int) -> Iterator[Any]:
        """Endless training batches, from training step ``step`` on (a resumed run sees new data)."""
        raise NotImplementedError

    def size(self, batch: Any) -> int:
        """Samples in a batch (for samples/s and samples seen)."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: Any, device: str) -> Dict[str, torch.Tensor]:
        """``{"loss": total, <part>: ...}`` for one batch, in the model's training mode."""
        raise NotImplementedError

    def validate(self, model: torch.nn.Module, device: str) -> Dict[str, Any]:
        """Figures on a fixed validation set, ``main`` among them; ``examples`` (a few truth |
        reading strings) goes to the log only."""
        raise NotImplementedError

    def save(self, model: torch.nn.Module, folder: str) -> None:
        """Write the weights a user runs (``model.pt``) into ``folder``."""
        raise NotImplementedError

    def finish(self, folder: str) -> None:
        """After the run: write what the kept weights need beside them (the reader: its ONNX
        graphs, which the ONNX and TensorRT modes read)."""

    def settings(self) -> Dict[str, Any]:
        """What config.json records about the task (data, model settings)."""
        return {}

    def validation_id(self) -> Optional[str]:
        """A digest of the validation data (``digest``), recorded with the kept weights'
        figures: a resumed run whose validation differs (a generator was changed) validates the
        weights it starts from again and keeps them, rather than compare figures of other lines."""
        return None


def digest(groups: Dict[str, Any]) -> str:
    """A short digest of validation groups: each group's name and its (input array, text) items."""
    h = hashlib.sha256()
    for name in sorted(groups):
        h.update(name.encode())
        for x, text in groups[name]:
            x = np.ascontiguousarray(x)
            h.update(str(x.shape).encode() + text.encode() + x.tobytes())
    return h.hexdigest()[:16]


class Schedule(NamedTuple):
    lr: float = 1e-3
    minutes: float = 60.0  # stop after this much training time (this run's)
    steps: Optional[int] = None  # or at this step, counted over all runs
    warmup: int = 0  # steps of linear warm-up at the start of this run
    floor: float = 0.05  # the cosine ends at this share of ``lr``
    clip: float = 5.0
    bf16: bool = False
    log_every: int = 50
    valid_every: int = 500


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_helps() -> bool:
    """Whether bfloat16 autocast speeds training up here: a CUDA GPU that has it, or a CPU with
    AVX512-BF16 or AMX (elsewhere the CPU emulates it, slower than float32)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def count(text: str) -> int:
    """An argparse type: a whole number of at least 1 (steps, lines, a batch)."""
    return _number(text, int, lambda v: v >= 1, "a whole number, at least 1")


def count0(text: str) -> int:
    """An argparse type: a whole number of at least 0 (worker processes)."""
    return _number(text, int, lambda v: v >= 0, "a whole number, at least 0")


def positive(text: str) -> float:
    """An argparse type: a number above 0 (minutes, a learning rate)."""
    return _number(text, float, lambda v: v > 0 and math.isfinite(v), "a number above 0")


def share(text: str) -> float:
    """An argparse type: a share from 0 to 1."""
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a share from 0 to 1")


def _number(text: str, kind, ok, what: str):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError("%r: expected %s" % (text, what))
    return value


def bf16_option(parser) -> None:
    """``--bf16`` / ``--no-bf16`` on a training command line; by default, ``bf16_helps()``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--bf16", dest="bf16", action="store_true", default=None,
                       help="bfloat16 autocast (weights stay float32); the default where it helps: a CPU with "
                            "AVX512-BF16 or AMX, or a GPU with bfloat16")
    group.add_argument("--no-bf16", dest="bf16", action="store_false", help="float32 throughout")


def use_bf16(choice) -> bool:
    """``--bf16`` / ``--no-bf16``, or without either whether it helps here; a ``--bf16`` where
    it does not help is obeyed with a warning (an AVX2 CPU emulates it: 16 steps of EasyOCR's
    recogniser had not ended after 10 minutes, where float32 took 3)."""
    if choice is None:
        return bf16_helps()
    if choice and not bf16_helps():
        print("warning: --bf16 on a machine without bfloat16 arithmetic (no AVX512-BF16 or AMX, no CUDA GPU "
              "with it): it is emulated, many times slower than float32; leave --bf16 out to choose by the machine",
              file=sys.stderr)
    return bool(choice)


def rate(schedule: Schedule, progress: float, run_step: int) -> float:
    """Learning rate: linear warm-up, then a cosine over the run's budget (``progress``: the
    share of its minutes or of its steps spent, whichever is larger)."""
    if run_step < schedule.warmup:
        return schedule.lr * (run_step + 1) / schedule.warmup
    return schedule.lr * (schedule.floor + (1 - schedule.floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


FRESH = {"step": 0, "seconds": 0.0, "samples": 0, "best": None, "best_valid": None}


def begin_from(config: Dict[str, Any]) -> Dict[str, Any]:
    """Where a run continuing from weights its ``config.json`` describes (no checkpoint: a
    fresh optimiser) begins: their step, seconds and lines, and their validation, kept unless bettered."""
    return {"step": config["steps"], "seconds": float(config["train_seconds"]),
            "samples": config.get("samples_seen", 0), "best_valid": config.get("validation"),
            "best": (config.get("validation") or {}).get(Task.main)}


def resume_state(folder: str, model: torch.nn.Module, optimizer, location: str) -> Dict[str, Any]:
    """Load ``folder/checkpoint.pt`` into the model and optimiser; the step, seconds,
    samples and best figure so far (None when there is no checkpoint)."""
    path = os.path.join(folder, "checkpoint.pt")
    if not os.path.isfile(path):
        return None
    state = torch.load(path, map_location=location, weights_only=False)  # our own file: the optimiser too
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return dict(FRESH, **{k: state[k] for k in FRESH if state.get(k) is not None})


class TrainingError(Exception):
    """A run cannot start: the message names the folder or file and what is wrong."""


def check_out(folder: str) -> None:
    """TrainingError where the weights folder a command was given is a file (said before any
    model loads)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise TrainingError("--out %s: a file, not a folder for the weights" % folder)


def claim(folder: str) -> int:
    """The run's folder, made where missing and locked for this process (a descriptor to keep
    open while training): TrainingError where it is a file, or another run is writing it
    (two runs would interleave one train.log and overwrite each other's weights)."""
    from bench.runfolder import hold

    check_out(folder)
    os.makedirs(folder, exist_ok=True)
    fd, holder = hold(os.path.join(folder, "train.lock"))
    if fd is None:
        raise TrainingError("%s is being trained into by another run (%s); wait for it to end, or give another --out"
                            % (folder, holder))
    return fd


def read_config(folder: str) -> Optional[Dict[str, Any]]:
    """``folder/config.json`` (None where there is none); TrainingError naming it when it is
    damaged (a run killed while writing it, before writes were atomic)."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrainingError("%s: damaged (%s); restore it from git or delete the folder's run to start afresh"
                            % (path, exc))


def _write_config(folder: str, task: Task, state: Dict[str, Any], schedule: Schedule, extra: Dict[str, Any]) -> None:
    config = dict(task.settings())
    config.update(extra)
    config.update({"schedule": schedule._asdict(), "steps": state["step"], "samples_seen": state["samples"],
                   "train_seconds": round(state["seconds"]), "validation": state["best_valid"],
                   "command": "python -m " + _module() + " " + " ".join(sys.argv[1:]), "torch": torch.__version__})
    path = os.path.join(folder, "config.json")
    with open(path + ".tmp", "w") as f:  # written whole, then put in place: a kill never leaves half of one
        json.dump(config, f, indent=2)
    os.replace(path + ".tmp", path)


def _module() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else os.path.basename(sys.argv[0])


def fit(task: Task, model: torch.nn.Module, optimizer, folder: str, schedule: Schedule,
        resume: bool = False, extra: Optional[Dict[str, Any]] = None, where: Optional[str] = None,
        begin: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Train ``model`` on ``task`` into ``folder`` until the schedule's minutes or steps; validate
    every ``valid_every`` steps and at the end, keeping the best weights. ``resume``: from the
    folder's checkpoint when it has one; else ``begin`` (step, seconds, samples of weights the
    caller loaded) or from nothing. Returns the final state (step, seconds, samples, best,
    best_valid)."""
    where = where or device()
    extra = extra or {}
    lock = claim(folder)
    state = (resume_state(folder, model, optimizer, where) if resume else None) or dict(FRESH, **(begin or {}))
    valid_set = task.validation_id()
    revalidate = valid_set is not None and state["best"] is not None and \
        (state["best_valid"] or {}).get("valid_set") != valid_set
    log = open(os.path.join(folder, "train.log"), "a")

    def record(entry: Dict[str, Any]) -> None:
        log.write(json.dumps(entry) + "\n")
        log.flush()
        print(json.dumps(entry), flush=True)

    def checkpoint() -> None:
        torch.save(dict(state, model=model.state_dict(), optimizer=optimizer.state_dict()),
                   os.path.join(folder, "checkpoint.pt.tmp"))
        os.replace(os.path.join(folder, "checkpoint.pt.tmp"), os.path.join(folder, "checkpoint.pt"))

    def validate() -> Dict[str, Any]:
        model.eval()
        with torch.no_grad():
            figures = task.validate(model, where)
        model.train()
        examples = figures.pop("examples", [])
        entry = dict({"step": state["step"], "seconds": round(state["seconds"])}, **figures)
        if state["best"] is None or figures[task.main] > state["best"]:
            state["best"], state["best_valid"] = figures[task.main], dict(figures, step=state["step"])
            if valid_set is not None:
                state["best_valid"]["valid_set"] = valid_set
            task.save(model, folder)
            entry["kept"] = True
        record(dict(entry, examples=examples[:6]))
        checkpoint()
        _write_config(folder, task, state, schedule, extra)
        return figures

    model.train()
    record({"start": state["step"], "seconds": round(state["seconds"]), "settings": dict(task.settings(), **extra),
            "schedule": schedule._asdict()})
    if revalidate:
        record({"step": state["step"], "note": "the validation lines differ from those the kept weights were "
                "measured on: the weights this run starts from are validated again and kept"})
        state["best"] = None
        validate()
    base_seconds, began, first_step = state["seconds"], time.monotonic(), state["step"]
    run_step, window, waited, samples_window, window_began = 0, [], 0.0, 0, began
    batches = task.batches(state["step"])
    while True:
        elapsed = time.monotonic() - began
        state["seconds"] = base_seconds + elapsed
        if (schedule.steps and state["step"] >= schedule.steps) or elapsed >= schedule.minutes * 60:
            break
        wait_began = time.monotonic()
        batch = next(batches)
        waited += time.monotonic() - wait_began
        progress = elapsed / (schedule.minutes * 60)  # whichever budget, time or steps, ends first
        if schedule.steps:
            progress = max(progress, run_step / float(max(1, schedule.steps - first_step)))
        lr = rate(schedule, progress, run_step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(where, dtype=torch.bfloat16, enabled=schedule.bf16):
            parts = task.loss(model, batch, where)
        optimizer.zero_grad()
        parts["loss"].backward()
        if schedule.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), schedule.clip)
        optimizer.step()
        run_step += 1
        size = task.size(batch)
        state["step"] += 1
        state["samples"] += size
        samples_window += size
        window.append({k: float(v.detach()) for k, v in parts.items()})
        if state["step"] % schedule.log_every == 0:
            now = time.monotonic()
            span = now - window_began
            entry = {"step": state["step"], "seconds": round(base_seconds + now - began), "lr": round(lr, 7)}
            entry.update({k: round(float(np.mean([w[k] for w in window])), 4) for k in window[0]})
            entry.update({"samples_per_s": round(samples_window / span, 1), "data_wait": round(waited / span, 3)})
            record(entry)
            window, waited, samples_window, window_began = [], 0.0, 0, now
        if state["step"] % schedule.valid_every == 0:
            state["seconds"] = base_seconds + time.monotonic() - began
            validate()
            window_began, waited, samples_window, window = time.monotonic(), 0.0, 0, []
    state["seconds"] = base_seconds + time.monotonic() - began
    if run_step == 0 or state["step"] % schedule.valid_every:  # not validated at this step yet
        validate()
    task.finish(folder)
    log.close()
    os.close(lock)
    return state
