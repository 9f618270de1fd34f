"""The one small interface every OCR engine is wrapped behind.

An adapter is one file, ``adapters/<engine>.py``, with a class ``Adapter``. Importing the
file must not import the engine (the runner reads ``modes`` without it); ``load`` does.
The worker calls, in one process per engine x mode cell::

    adapter.load(mode, options)        # raise ModeUnavailable(reason) to skip the cell
    adapter.calibrate(images)          # optional: see sample images before timing
    inputs = adapter.preprocess(image) # timed as preprocessing
    words = adapter.infer(inputs)      # timed as inference
    readings = adapter.infer_batch([inputs, ...])  # offline and multi-stream scenarios
    adapter.synchronize()              # GPU modes: before the clock stops
    adapter.close()

Device side: Python 3.6 and numpy.
"""
import os
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, TypeVar

import numpy as np

MODES = ("cpu", "gpu", "gpu-fp16", "trt-fp32", "trt-fp16", "trt-int8", "onnx-cpu")
CPU_MODES = ("cpu", "onnx-cpu")  # their workers see no GPU
T = TypeVar("T")
REJECT = "\ufffd"  # a character an engine declines to read (too unsure); its sample counts as rejected
THREADS_ENV = "OCR_BENCH_THREADS"  # the cell's ``threads`` setting, set by the runner for the worker


def threads() -> Optional[int]:
    """The cell's CPU thread count (suite key ``threads``), or None for the engine's default.
    The runner also sets OMP_NUM_THREADS and its kin, which PyTorch, OpenCV's and BLAS's pools
    and Tesseract (OMP_THREAD_LIMIT) follow; an adapter passes it to engines that take it as
    a setting instead (ONNX Runtime sessions, Paddle's ``cpu_threads``)."""
    value = os.environ.get(THREADS_ENV)
    return int(value) if value else None


class ModeUnavailable(Exception):
    """This engine cannot run in this mode on this machine; the message says why."""


class Word(NamedTuple):
    """One recognised text box: text, axis-aligned box (x0, y0, x1, y1) or None, score, and
    where the engine reads character by character, each character's confidence."""

    text: str
    box: Optional[Tuple[float, float, float, float]] = None
    score: Optional[float] = None
    confidences: Optional[Tuple[float, ...]] = None


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def repo_path(path: str) -> str:
    """A path from a suite's options, as the worker reads it: relative to the repository (the
    worker's working directory), wherever the runner was started."""
    return os.path.join(REPO, os.path.expanduser(path))


def kept_steps(config: Dict[str, Any]) -> int:
    """Training steps of the weights a run kept (its best validation, ``config.json``'s
    ``validation.step``), not of the run's last step."""
    return int((config.get("validation") or {}).get("step", config["steps"]))


def number_option(options: Dict[str, Any], key: str, low: float, high: float) -> None:
    """ValueError unless ``options[key]``, where given, is a number from ``low`` to ``high``."""
    value = options.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError("%s: a number from %g to %g, got %r" % (key, low, high, value))


def box_of(points: Sequence[Sequence[float]]) -> Tuple[float, float, float, float]:
    """Axis-aligned box around a polygon's points."""
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return min(xs), min(ys), max(xs), max(ys)


class Adapter:
    """Base class; subclasses set ``modes`` and ``packages`` and implement load and infer."""

    modes: Tuple[str, ...] = ("cpu",)  # the modes this engine can run in at all
    packages: Tuple[str, ...] = ()  # distributions whose versions are recorded with results
    mode_notes: Dict[str, str] = {}  # why a mode in MODES is missing from ``modes``
    _files: List[str] = []  # set by ``load``: what ``model_files`` reports
    _sync: Optional[Callable[[], None]] = None  # set by ``load`` in GPU modes: what ``synchronize`` calls
    batches = False  # whether ``infer_batch`` reads several images in one call (``load`` may set it per mode)
    # the modes in which the engine runs in ONNX Runtime on the CPU, every session made by
    # adapters/onnx_runtime.session: the worker gives them one thread pool (onnx_runtime.share_threads)
    onnx_cpu_modes: Tuple[str, ...] = ()
    model_name = ""  # the engine's models, as the report names them ("PP-OCRv4 (det + rec)"); ``load`` may refine it
    stage_ms: Dict[str, Optional[float]] = {}  # set by ``infer`` where the engine times its stages: "det", "rec"
    # the option keys ``load`` reads; a suite naming another is refused before any cell runs.
    # None: the options go on to the engine's own constructor, which names what it refuses
    option_names: Optional[Tuple[str, ...]] = None

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> None:
        """Raise ValueError naming the option when the suite's ``options`` cannot be right,
        before any cell runs (without importing the engine). Most adapters pass them on."""

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        raise NotImplementedError

    def calibrate(self, images: List[np.ndarray]) -> None:
        """Before warm-up, decoded images like those to be timed (the warm-up image and the
        first samples), for what an engine must see first: TensorRT shape ranges, INT8
        calibration. Counted in the cell's load time; may raise ModeUnavailable. Most
        engines need nothing."""

    def preprocess(self, image: np.ndarray) -> Any:
        """Engine-specific input conversion; the harness has already decoded and cropped."""
        return image

    def infer(self, inputs: Any) -> List[Word]:
        raise NotImplementedError

    def infer_batch(self, inputs: List[Any]) -> List[List[Word]]:
        """Several preprocessed images, the words of each. An engine with a batch path
        overrides this and sets ``batches``; without one, the images are read one by one."""
        return [self.infer(x) for x in inputs]

    def synchronize(self) -> None:
        """Wait for the device to finish (GPU modes); a no-op on the CPU."""
        if self._sync is not None:
            self._sync()

    def model_files(self) -> List[str]:
        """Weight files on disk, for the model size column."""
        return list(self._files)

    def versions(self) -> Dict[str, str]:
        """Versions that are not pip distributions (a system library, say)."""
        return {}

    def close(self) -> None:
        """Release the engine."""


def torch_gpu_versions(torch) -> Dict[str, str]:
    """The CUDA and cuDNN that this PyTorch build carries ("none" in a CPU build)."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"torch-cuda": torch.version.cuda or "none", "torch-cudnn": str(cudnn) if cudnn else "none"}


def group_lines(items: Sequence[T], extent: Callable[[T], Tuple[float, float]]) -> List[List[T]]:
    """``items`` in lines, top to bottom, each line in the order its items came: an item joins
    a line when its vertical ``extent`` (top, bottom) overlaps the line's by at least half the
    smaller height."""
    lines: List[List[T]] = []
    spans: List[List[float]] = []
    for item in sorted(items, key=lambda i: sum(extent(i)) / 2):
        y0, y1 = extent(item)
        for line, span in zip(lines, spans):
            if min(y1, span[1]) - max(y0, span[0]) >= 0.5 * min(y1 - y0, span[1] - span[0]):
                line.append(item)
                span[0], span[1] = min(y0, span[0]), max(y1, span[1])
                break
        else:
            lines.append([item])
            spans.append([y0, y1])
    return lines


def join_reading_order(words: Sequence[Word]) -> str:
    """Text of several boxes in reading order: lines top to bottom (``group_lines``), left to
    right within a line, joined by single spaces. Words without a box keep their order, after
    boxed ones."""
    lines = group_lines([w for w in words if w.box is not None], lambda w: (w.box[1], w.box[3]))
    ordered = [w for line in lines for w in sorted(line, key=lambda w: w.box[0])]
    ordered += [w for w in words if w.box is None]
    return " ".join(t for t in (" ".join(w.text.split()) for w in ordered) if t)
