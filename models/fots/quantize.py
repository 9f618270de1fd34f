"""The reader's INT8 detector for ONNX Runtime on the CPU (engine row ``fots-int8``):
``<weights>/onnx/detector.onnx`` quantised statically with ONNX Runtime's tools, per
channel, as quantise-dequantise (QDQ) nodes, which TensorRT's explicit INT8 reads too;
activations uint8, weights int8; what has no INT8 kernel (the sigmoid) stays in float.
Activation ranges: the 99.99th percentile of each tensor over generated images only, never a
test set: codes ``CALIBRATION_START`` and on of the project's generators (the benchmark's
frames and the printing styles, half each, synth/ via models/fots/data.py) and as many pack
date blocks photographed at an angle and turned level (synth/packs.py), each made into a
canvas as the reader makes one and set on the full canvas (the percentile calibrator takes
inputs of one shape). The recogniser stays in float: quantised the same way it read 10 fewer
of 300 validation crops (codes 5,000-5,299), and no faster (docs/our-reader.md, "Lean").

    python -m models.fots.quantize                      # the committed reader
    python -m models.fots.quantize --weights my-weights --images 128
"""
import argparse
import os
import tempfile
from typing import List, Optional

import numpy as np

from models.fots import data, graphs, orient, reader
from models.training import count
from synth import packs

CALIBRATION_START = 900000  # beyond the embedded set (0-199), validation (5,000s) and training (10,000-469,999)
PERCENTILE = 99.99  # of each activation's magnitudes: its range (MinMax ties on validation: docs/our-reader.md)


def calibration_canvases(images: int, start: int = CALIBRATION_START) -> List[data.Canvas]:
    """``images`` canvases as the reader makes them: generated crops, then pack blocks."""
    out = []
    for k in range(images):
        if k % 2 == 0:
            gray = data.training_sample(start + k, styles=0.5).canvas.source
        else:
            gray = packs.photographed(data.TRAIN_SEED, start + k)[0].image
        out.append(data.for_reading(gray, True, orient.text_angle(gray)))
    return out


def quantize(weights: str, images: int) -> str:
    """Write ``<weights>/onnx/detector-int8.onnx`` and record it."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    from adapters.onnx_runtime import calibration_reader
    from models.fots.export import shipped

    source, = graphs.paths(weights, ["detector.onnx"], "python -m models.fots.export --weights %s" % weights)
    feeds = []
    for canvas in calibration_canvases(images):
        full = np.full((1, 1, data.CANVAS_H, data.CANVAS_W), canvas.fill, np.float32)
        full[0, 0, :canvas.image.shape[0], :canvas.image.shape[1]] = canvas.image
        feeds.append({"images": full})
    target = os.path.join(weights, graphs.FOLDER, "detector-int8.onnx")
    with tempfile.TemporaryDirectory() as scratch:
        prepared = os.path.join(scratch, "detector.onnx")
        quant_pre_process(source, prepared)
        quantize_static(prepared, target, calibration_reader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": PERCENTILE})
    shipped(target)
    graphs.note(weights, [os.path.basename(target)], opset=graphs.OPSET, precision="int8",
                calibration="percentile %s over %d generated images (codes %d-%d: frames and printing styles, pack "
                            "blocks photographed at an angle); models/fots/quantize.py"
                            % (PERCENTILE, images, CALIBRATION_START, CALIBRATION_START + images - 1))
    return target


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=reader.WEIGHTS, help="a reader's weights folder with its float graphs "
                                                                 "(python -m models.fots.export; default: %(default)s)")
    parser.add_argument("--images", type=count, default=96, help="calibration images (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        print(quantize(args.weights, args.images))
    except graphs.GraphsMissing as exc:
        raise SystemExit("error: %s" % exc)


if __name__ == "__main__":
    main()
