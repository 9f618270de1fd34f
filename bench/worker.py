"""One engine x mode cell, in its own process (``python -m bench.worker``), possibly in the
engine's own Python environment.

It reads the cell's spec (JSON) on stdin, loads the adapter, runs the warm-ups, then times
each sample it is given and reports one JSON line per event on its original stdout; the
engine's own prints are sent to stderr. It writes no file: the runner records everything,
so a worker that crashes, hangs or is killed loses only the sample in flight.

Events: ``skipped {reason}``, ``loaded {load_s, model_mb, env, warmup_image, batched, threads, model}``,
``warmup {i}``, ``sample {pass, sample_id, pred, t_pre_ms, t_infer_ms, t_total_ms, error, ...}``
(fed as the cell's scenario says, bench/scenarios.py),
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
from typing import Any, Dict, List, Optional, Tuple

from adapters import onnx_runtime
from adapters.base import ModeUnavailable, threads
from bench import grammar, scenarios
from bench.dataset import Entry, SampleError, decode, open_dataset, read_bytes
from bench.scenarios import clock
from bench.versions import package_versions


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
    if spec["mode"] in adapter.onnx_cpu_modes:  # no sessions here but the adapter's
        onnx_runtime.share_threads()
    dataset = open_dataset(spec["dataset"])
    by_id = {e.sample_id: e for e in dataset.entries}
    image_opts = spec["image"]
    post = grammar.load(spec["grammar"]).correct if spec.get("grammar") else None
    warm: Optional[Entry] = warmup_entry(dataset, image_opts) if spec["warmup"] or spec.get("calibration") else None
    if threads() is not None:
        import cv2

        cv2.setNumThreads(threads())  # OpenCV's own pool (decoding, resizing) follows the cell's setting
    started = clock()
    try:
        options = dict(spec.get("options") or {})
        if options.get("grammar") == "run":  # an engine that decodes within the run's code grammar
            if not spec.get("grammar"):
                raise ModeUnavailable("it decodes within the run's code grammar (options: {grammar: run}) and this "
                                      "run has none (grammar: none, or no grammar.txt beside the manifest)")
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
         warmup_image=warm.sample_id if warm else None, batched=bool(adapter.batches), threads=threads(),
         model=adapter.model_name)
    scenario = scenarios.Scenario(**spec.get("scenario") or {})
    for i in range(spec["warmup"] if warm else 0):
        error = scenarios.warm(scenario, adapter, warm, image_opts, post)
        if error:
            raise RuntimeError("warm-up failed: " + error)
        send(event="warmup", i=i)
    items = [(pass_index, by_id[sample_id]) for pass_index, sample_id in spec["todo"]]
    for (pass_index, entry), row in scenarios.feed(scenario, adapter, items, image_opts, post):
        send(event="sample", sample_id=entry.sample_id, **dict(row, **{"pass": pass_index}))
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
