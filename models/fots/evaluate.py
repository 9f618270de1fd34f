"""How well trained weights read held-out generator frames (validation indices 5000...),
end to end, and with recognition given the true line boxes instead of the detected ones:
the gap between the two is what detection costs.

    python -m models.fots.evaluate models/fots/weights/fots-b0 --frames 200

Prints one JSON line per group of codes (PRO/EXP lines, the others, all). Training calls
``validate`` at each save, on fewer frames.
"""
import argparse
import json
from typing import List, Tuple

import numpy as np
import torch

from bench import metrics
from models.fots import data, decode, reader


def read_sample(backend, sample: data.TrainingSample) -> Tuple[str, str]:
    """The text read from a frame, its lines top to bottom: through the detected boxes, and
    through the true ones on the same features."""
    found, feats, rois = reader.detect(backend, data.to_canvas((sample.image * 255).astype(np.uint8)))
    detected = rois[np.argsort([(box[1] + box[3]) / 2 for box, _ in found])]
    true = np.array([[0.0, *box] for box in sorted(sample.boxes, key=lambda b: (b[1] + b[3]) / 2)], np.float32)

    def text(rois: np.ndarray) -> str:
        lines = decode.ctc_greedy(backend.recognize(feats, rois)) if len(rois) else []
        return metrics.normalize("".join(line for line, _ in lines))

    return text(detected), text(true.reshape(-1, 5))


def truth(sample: data.TrainingSample) -> str:
    return metrics.normalize(" ".join(sample.texts))


def validate(model, device: str, count: int = 64) -> dict:
    """End to end on the first ``count`` validation frames: exact codes, CER."""
    model.eval()
    backend = reader.TorchBackend(model, device)
    samples = (data.training_sample(data.VALID_START + i) for i in range(count))
    scores = metrics.corpus([metrics.counts(read_sample(backend, s)[0], truth(s)) for s in samples])
    model.train()
    return {"valid_exact": scores["strict_acc"], "valid_cer": scores["cer"], "valid_n": count}


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="?", default=reader.WEIGHTS, help="a folder with model.pt and config.json")
    parser.add_argument("--frames", type=int, default=200, help="validation frames to read (indices 5000 on)")
    args = parser.parse_args(argv)
    if not 0 < args.frames <= data.VALID_FRAMES:
        parser.error("--frames must be 1 to %d, the validation frames" % data.VALID_FRAMES)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, config = reader.load(args.weights, device)
    backend = reader.TorchBackend(model, device)
    groups = {"PRO/EXP": [], "other": []}
    for i in range(args.frames):
        sample = data.training_sample(data.VALID_START + i)
        gt = truth(sample)
        counts = [metrics.counts(read, gt) for read in read_sample(backend, sample)]
        groups["PRO/EXP" if gt.startswith("PRO:") else "other"].append(counts)
    groups["all"] = groups["PRO/EXP"] + groups["other"]
    for name, rows in groups.items():
        detected, true = (metrics.corpus([row[k] for row in rows]) for k in (0, 1))
        print(json.dumps({"weights": args.weights, "steps": config["steps"], "codes": name, "frames": len(rows),
                          "exact": round(detected["strict_acc"], 4), "cer": round(detected["cer"], 4),
                          "exact_true_boxes": round(true["strict_acc"], 4), "cer_true_boxes": round(true["cer"], 4)}))


if __name__ == "__main__":
    main()
