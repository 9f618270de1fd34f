"""Give a reader's line recogniser a smaller LSTM, taught by its own.

The recogniser's bidirectional LSTM (128 units each way) is half of its time in ONNX
Runtime on a CPU: a sequential loop of small products, one per CTC step and direction,
whose cost falls with the square of its width (a 320-pixel line: 1.8 ms at 128 units,
0.7 ms at 64; docs/our-reader.md). Here a narrower LSTM (``--hidden``) learns to give what
the teacher's gives: the recogniser's convolutions are copied from the teacher and frozen,
so that the upright classifier that shares them (models/fots/upright.py) keeps working and
every line's columns are computed once for both LSTMs; the student starts as the teacher's
LSTM cut down to its most weighty units (``pruned``) and is trained to match the teacher's
CTC distribution at every step of the line (KL divergence) and, weighted by ``--ctc``, the
line's true text (CTC). Lines come from a line cache (python -m synth.lines) and, with
``--photos``, from the training photographs of an annotated set (models/fots/annotated.py),
as the photo fine-tuning draws them. Validation: the generated validation lines of
models/fots/train_lines.py (the kept weights: the best mean exact rate), with the teacher's
own figures on them recorded at the start.

    python -m models.fots.distill_head --teacher models/fots/weights/fots-lite --out /root/runs/lstm64 \\
        --hidden 64 --cache ~/.cache/ocr-edge-bench/lines/train --photos datasets/real-useby/train --minutes 45

The weights folder it writes is a whole reader: the teacher's detector and decoding, the
student recogniser (``config.json``: ``"lines": {"hidden": 64}``), and its ONNX graphs.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F

from adapters.base import kept_steps
from models import training
from models.fots import annotated, finetune, line_net, reader, train_lines, upright
from models.fots.net import VOCAB


def pruned(teacher: line_net.LineRecognizer, hidden: int) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """The teacher's LSTM and classifier weights kept for the ``hidden`` units of each
    direction whose outputs weigh most in its classifier (the norm of their columns): a start
    much nearer the teacher than random weights (the fots-lite recogniser cut to 64 units:
    39% of the validation lines at once against 0%; to 96: 56%; the teacher 66%)."""
    size = teacher.rnn.hidden_size
    weights, out = teacher.rnn.state_dict(), teacher.classify.weight.detach()
    rnn, columns = {}, []
    for way, suffix in enumerate(("", "_reverse")):
        units = torch.argsort(out[:, way * size:(way + 1) * size].norm(dim=0), descending=True)[:hidden].sort().values
        rows = torch.cat([gate * size + units for gate in range(4)])  # the input, forget, cell and output gates
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            rnn[name + suffix] = weights[name + suffix][rows]
        rnn["weight_hh_l0" + suffix] = rnn["weight_hh_l0" + suffix][:, units]
        columns.append(way * size + units)
    return rnn, {"weight": out[:, torch.cat(columns)].clone(), "bias": teacher.classify.bias.detach().clone()}


class DistillTask(train_lines.LinesTask):
    """Lines through the frozen convolutions once; the student LSTM's loss is its KL
    divergence from the teacher's outputs plus ``ctc`` times its CTC loss on the true text."""

    def __init__(self, teacher: str, cache: str, batch: int, valid: int, workers: int, ctc: float, hidden: int,
                 photos: Optional[annotated.Annotated] = None, photo_share: float = 0.25) -> None:
        super().__init__(cache, batch, teacher, valid, workers, seed=3)
        model, self.teacher_config = reader.load(teacher, "cpu")
        self.teacher = model.lines.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.ctc, self.hidden, self.photos, self.photo_share = ctc, hidden, photos, photo_share
        self.photo_lines = [line for photo in photos.train for line in annotated.lines(photo)] if photos else []

    def student(self) -> line_net.LineRecognizer:
        """A recogniser with an LSTM of ``hidden`` units each way, the teacher's convolutions
        copied in and frozen; it starts as the teacher cut down (``pruned``)."""
        model = line_net.LineRecognizer(len(VOCAB) + 1, hidden=self.hidden)
        model.convs.load_state_dict(self.teacher.convs.state_dict())
        for p in model.convs.parameters():
            p.requires_grad_(False)
        rnn, classify = pruned(self.teacher, self.hidden)
        model.rnn.load_state_dict(rnn)
        model.classify.load_state_dict(classify)
        return model

    def batches(self, step: int) -> Iterator[Any]:
        if not self.photo_lines:
            return super().batches(step)
        return self.loaded(finetune.Mixed(self.photo_lines, self.cache, self.batch_size, 1.0 - self.photo_share, step))

    def loss(self, model, batch, device: str) -> Dict[str, torch.Tensor]:
        x, steps, labels, lengths, _ = batch
        model.convs.eval()  # frozen: batch norm keeps the teacher's statistics
        with torch.no_grad():
            columns = model.columns(x.to(device))
            target = self.teacher.to(device).read(columns).float()
        log_probs = model.read(columns).float()
        valid = (torch.arange(log_probs.shape[0], device=device)[:, None] < steps.to(device)[None, :]).float()
        kl = ((target.exp() * (target - log_probs)).sum(-1) * valid).sum() / valid.sum()
        ctc = F.ctc_loss(log_probs, labels, steps, lengths, blank=0, zero_infinity=True)
        return {"loss": kl + self.ctc * ctc, "kl": kl, "ctc": ctc}

    def finish(self, folder: str) -> None:
        from models.fots.export import write_graphs

        write_graphs(folder, upright.WEIGHTS)  # the student keeps the convolutions the upright network shares

    def settings(self) -> Dict[str, Any]:
        config = {k: v for k, v in self.teacher_config.items() if k in ("backbone", "width", "hidden", "decoding")}
        config.update(
            recognizer="pixels",
            detector_steps=self.teacher_config.get("detector_steps", kept_steps(self.teacher_config)),
            lines=dict(self.teacher_config.get("lines") or {}, hidden=self.hidden, cache=os.path.abspath(self.cache),
                       batch=self.batch_size, valid_lines_per_group=len(self.valid["frames"])),
            teacher={"weights": os.path.abspath(self.detector), "ctc_weight": self.ctc,
                     "config": self.teacher_config},  # the detector's and the teacher's training, as recorded
            photos=dict(self.photos.about, share=self.photo_share) if self.photos else None)
        return config


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", default=reader.WEIGHTS,
                        help="reader weights whose recogniser teaches and whose detector is kept "
                             "(default: %(default)s)")
    parser.add_argument("--out", required=True, help="weights folder to write (a whole reader)")
    parser.add_argument("--cache", required=True, help="a line cache (python -m synth.lines)")
    parser.add_argument("--photos", default=None,
                        help="an annotated set whose training photographs' lines are mixed in")
    parser.add_argument("--photo-share", type=training.share, default=0.25, help="share of each batch from --photos")
    parser.add_argument("--hidden", type=training.count, default=64, help="the student LSTM's units each way")
    parser.add_argument("--ctc", type=training.positive, default=0.5, help="weight of the CTC loss on the true text")
    parser.add_argument("--batch", type=training.count, default=64)
    parser.add_argument("--lr", type=training.positive, default=2e-3)
    parser.add_argument("--minutes", type=training.positive, default=45)
    parser.add_argument("--steps", type=training.count, default=None)
    parser.add_argument("--valid", type=training.count, default=300, help="validation lines per group")
    parser.add_argument("--valid-every", type=training.count, default=1000)
    parser.add_argument("--log-every", type=training.count, default=100)
    parser.add_argument("--workers", type=training.count0, default=1, help="processes making batches")
    args = parser.parse_args(argv)
    try:
        with open(os.path.join(args.teacher, "config.json")) as f:
            if json.load(f).get("recognizer") != "pixels":
                raise ValueError("--teacher %s: not a reader with a line recogniser (config.json's recognizer is not "
                                 "'pixels')" % args.teacher)
        if not os.path.isdir(args.cache):
            raise ValueError("--cache %s: no such line cache (python -m synth.lines --out %s --count N)"
                             % (args.cache, args.cache))
        photos = annotated.load(args.photos) if args.photos else None
        training.check_out(args.out)
    except (OSError, ValueError, annotated.AnnotationError, training.TrainingError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    torch.manual_seed(0)
    task = DistillTask(args.teacher, args.cache, args.batch, args.valid, args.workers, args.ctc, args.hidden, photos,
                       args.photo_share)
    model = task.student()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=1e-4)
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps, warmup=200, bf16=False,
                                 log_every=args.log_every, valid_every=args.valid_every)
    teacher = {k: v for k, v in task.validate(task.teacher, "cpu").items() if k != "examples"}
    print(json.dumps({"teacher": teacher}), flush=True)
    try:
        training.fit(task, model, optimizer, args.out, schedule, resume=os.path.isfile(
            os.path.join(args.out, "checkpoint.pt")), extra={"teacher_valid": teacher}, where="cpu")
    except training.TrainingError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
