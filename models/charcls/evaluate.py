"""The two-stage reader on a dataset, stage by stage: exact and character scores, the
median time of detection (CRAFT and segmentation) and of classification per sample, and
how well a character's confidence tells right from wrong: the error rate among the 5% least
confident characters against the rest (characters of readings as long as their truth, so
that each lines up with one true character), and the confidence below which those 5% fall (a
starting point for the adapter's ``reject_below``).

    python -m models.charcls.evaluate [--dataset datasets/synth-codes] [--weights FOLDER]
"""
import argparse
import json
import time
from typing import List, Optional

import numpy as np
import torch

from bench import dataset as bench_dataset
from bench import metrics
from models.charcls import net, reader, segment


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="datasets/synth-codes")
    p.add_argument("--weights", default=reader.WEIGHTS)
    p.add_argument("--limit", type=int)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    classifier, vocab = net.load_classifier(args.weights)
    backend = net.TorchBackend(net.load_craft(), classifier, "cpu")
    entries = bench_dataset.open_dataset(args.dataset).entries[:args.limit]
    detect_ms, classify_ms, counts, conf, right = [], [], [], [], []
    for entry in entries:
        gray = bench_dataset.decode(bench_dataset.read_bytes(entry), entry)
        t0 = time.perf_counter()
        image, lines = reader.find(backend.detect, gray, 0.5)
        cells = segment.cut(image, [c for line in lines for c in line.cells])
        t1 = time.perf_counter()
        probs = backend.classify(cells) if len(cells) else np.zeros((0, len(vocab)), np.float32)
        t2 = time.perf_counter()
        detect_ms.append((t1 - t0) * 1e3)
        classify_ms.append((t2 - t1) * 1e3)
        pred = "".join(vocab[i] for i in probs.argmax(axis=1))
        truth = metrics.normalize(entry.text)
        counts.append(metrics.counts(pred, truth))
        if len(pred) == len(truth):
            conf.extend(probs.max(axis=1).tolist())
            right.extend(a == b for a, b in zip(pred, truth))
    scores = metrics.corpus(counts)
    order = np.argsort(conf)
    low = order[:max(1, len(order) // 20)]
    wrong = 1 - np.array(right, float)
    print(json.dumps({
        "dataset": args.dataset, "n": len(entries), "strict_acc": round(scores["strict_acc"], 4),
        "cer": round(scores["cer"], 4), "detect_ms_p50": round(float(np.median(detect_ms)), 1),
        "classify_ms_p50": round(float(np.median(classify_ms)), 1), "aligned_chars": len(right),
        "error_rate_least_confident_5pct": round(float(wrong[low].mean()), 4),
        "error_rate_other_95pct": round(float(np.delete(wrong, low).mean()), 4),
        "confidence_at_5pct": round(float(np.array(conf)[order[len(low) - 1]]), 3),
        "threads": args.threads}, indent=1))


if __name__ == "__main__":
    main()
