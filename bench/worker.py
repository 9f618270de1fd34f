"""One engine x mode cell, in its own process (``python -m bench.worker``), possibly in the
engine's own Python environment.

It reads the cell's spec (JSON) on stdin, loads the adapter, runs the warm-ups, then times
each sample it is given and reports one JSON line per event on its original stdout; the
engine's own prints are sent to stderr. It writes no file: the runner records everything,
so a worker that crashes, hangs or is killed loses only the sample in flight.

Events: ``skipped {reason}``, ``loaded {load_s, model_mb, env, warmup_image}``, ``warmup {i}``,
``sample {pass, sample_id, pred, t_pre_ms, t_infer_ms, t_total_ms, error}``,
``done {peak_rss_mb}``, and ``error {reason}`` just before it dies of an exception.

Device side: Python 3.6 with numpy, OpenCV and the engine.
"""
import ctypes
import importlib
import json
import os
import platform
import resource
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from adapters.base import ModeUnavailable, join_reading_order
from bench import grammar
from bench.dataset import Entry, SampleError, decode, open_dataset, read_bytes
from bench.versions import package_versions

clock = time.perf_counter  # monotonic, highest resolution available


def _protocol_stream():
    """Keep the real stdout for events; point fd 1 (the engine's prints) at stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1)


def _die_with_parent() -> None:
    """Linux: be killed when the runner dies, even by SIGKILL, so no orphan keeps running."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def adapter_class(spec: str):
    """``package.module:Class`` -> the class."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "Adapter")


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of the largest child it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0  # Linux reports KiB


def measure(adapter, entry: Entry, image_opts: Dict[str, Any], post=None) -> Dict[str, Any]:
    """Time one sample by stage. Reading the file is outside the clock; decoding, cropping
    and the preprocessing variant count as preprocessing. ``post`` (a code grammar's
    ``correct``) then makes the constrained reading, timed on its own (``t_post_ms``)."""
    row = {"pred": "", "t_pre_ms": None, "t_infer_ms": None, "t_total_ms": None, "error": "",
           "pred_grammar": None, "grammar_far": None, "t_post_ms": None}
    try:
        data = read_bytes(entry)
        t0 = clock()
        inputs = adapter.preprocess(decode(data, entry, **image_opts))
        t1 = clock()
        words = adapter.infer(inputs)
        adapter.synchronize()
        t2 = clock()
        row["pred"] = join_reading_order(words)
        t3 = clock()
    except SampleError as exc:
        row["error"] = str(exc)
        return row
    except Exception as exc:  # the engine failed on this sample: record it, go on
        row["error"] = "%s, %s: %s: %s" % (entry.where, entry.sample_id, type(exc).__name__, exc)
        return row
    row.update(t_pre_ms=(t1 - t0) * 1e3, t_infer_ms=(t2 - t1) * 1e3, t_total_ms=(t3 - t0) * 1e3)
    if post is not None:
        t4 = clock()
        corrected = post(row["pred"])
        row.update(pred_grammar=corrected.text, grammar_far=int(corrected.far), t_post_ms=(clock() - t4) * 1e3)
    return row


def usable(entries: List[Entry], count: int, image_opts: Dict[str, Any]) -> List[Tuple[Entry, Any]]:
    """The first ``count`` entries that decode, with their images decoded as the timed
    samples will be; the others are recorded as error rows when their turn comes."""
    found: List[Tuple[Entry, Any]] = []
    for entry in entries:
        if len(found) >= count:
            break
        try:
            found.append((entry, decode(read_bytes(entry), entry, **image_opts)))
        except SampleError:
            continue
    return found


def warmup_entry(dataset, image_opts: Dict[str, Any]) -> Entry:
    """warmup.csv's image, else the first sample that decodes; an error naming why when
    none does."""
    candidates = ([dataset.warmup] if dataset.warmup else []) + dataset.entries
    problems = []
    for entry in candidates:
        try:
            decode(read_bytes(entry), entry, **image_opts)
            return entry
        except SampleError as exc:
            problems.append(str(exc))
    raise SampleError("no usable warm-up image: none of the %d images of %s decodes%s" % (
        len(candidates), dataset.manifest, " (the first: %s)" % problems[0] if problems else ""))


def environment(adapter) -> Dict[str, Any]:
    names = tuple(adapter.packages) + ("numpy", "opencv-python", "opencv-python-headless")
    versions = package_versions(names)
    versions.update(adapter.versions())
    return {"python": platform.python_version(), "executable": sys.executable, "packages": versions}


def raised_in(exc: BaseException, cls: type) -> bool:
    """Whether the innermost frame of ``exc`` is in the file that defines ``cls``: an
    adapter's own ``import engine`` failed (not installed), rather than an import inside
    the engine (a broken installation)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    return tb is not None and path is not None and \
        os.path.realpath(tb.tb_frame.f_code.co_filename) == os.path.realpath(path)


def run(spec: Dict[str, Any], send) -> None:
    adapter = adapter_class(spec["adapter"])()
    dataset = open_dataset(spec["dataset"])
    by_id = {e.sample_id: e for e in dataset.entries}
    image_opts = spec["image"]
    post = grammar.load(spec["grammar"]).correct if spec.get("grammar") else None
    warm: Optional[Entry] = warmup_entry(dataset, image_opts) if spec["warmup"] or spec.get("calibration") else None
    started = clock()
    try:
        options = dict(spec.get("options") or {})
        if options.get("grammar") == "run":  # an engine that decodes within the run's code grammar, if any
            options["grammar"] = spec.get("grammar")
        adapter.load(spec["mode"], options)
        # an adapter may only find out here that the mode cannot run (INT8 engines are built
        # from the calibration images)
        shown = usable([warm] + [e for e in dataset.entries if e is not warm] if warm else dataset.entries,
                       spec.get("calibration", 0), image_opts)
        adapter.calibrate([image for _, image in shown])
    except ModeUnavailable as exc:
        send(event="skipped", reason=str(exc))
        return
    except ImportError as exc:
        if not raised_in(exc, type(adapter)):
            raise  # the engine is there but broken: a failed cell, with the traceback
        send(event="skipped", reason="not installed for %s: %s" % (sys.executable, exc))
        return
    model_bytes = sum(os.path.getsize(f) for f in adapter.model_files() if os.path.isfile(f))
    send(event="loaded", load_s=clock() - started, model_mb=model_bytes / 2.0 ** 20, env=environment(adapter),
         warmup_image=warm.sample_id if warm else None)
    for i in range(spec["warmup"] if warm else 0):
        result = measure(adapter, warm, image_opts, post)
        if result["error"]:
            raise RuntimeError("warm-up failed: " + result["error"])
        send(event="warmup", i=i)
    for pass_index, sample_id in spec["todo"]:
        send(event="sample", sample_id=sample_id, **{"pass": pass_index},
             **measure(adapter, by_id[sample_id], image_opts, post))
    send(event="done", peak_rss_mb=peak_rss_mb())
    adapter.close()


def main() -> None:
    _die_with_parent()
    spec = json.load(sys.stdin)
    stream = _protocol_stream()

    def send(**event: Any) -> None:
        stream.write(json.dumps(event) + "\n")

    try:
        run(spec, send)
    except Exception as exc:  # the traceback goes to the cell's log; the runner gets the cause
        send(event="error", reason="%s: %s" % (type(exc).__name__, " ".join(str(exc).split())))
        raise
    stream.flush()


if __name__ == "__main__":
    main()
