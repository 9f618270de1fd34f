"""The reader's ONNX graphs, shipped beside its weights: ``<weights>/onnx/`` holds them and
``graphs.json``, which names the ``model.pt`` they were made from (its SHA-256) and each
graph's own SHA-256. The ONNX and TensorRT modes read them from there, so a Jetson needs
no torch; ``python -m models.fots.export --weights <folder>`` writes them (training does
too, whenever it keeps weights), ``python -m models.fots.quantize --weights <folder>`` the
INT8 ones.

Device side: Python 3.6, the standard library only.
"""
import hashlib
import json
import os
from typing import Dict, List, Sequence

FOLDER = "onnx"
RECORD = "graphs.json"
OPSET = 13  # what a Jetson's onnxruntime (1.10/1.11, JetPack 4.6) and TensorRT 8.2 read
IR_VERSION = 7  # the ONNX IR of opset 13, which those read too


READS_UPRIGHT = "recognizer-upright.onnx"  # the line recogniser with the upright head (models/fots/export.py)


class GraphsMissing(Exception):
    """A weights folder has no usable graph of that name; the message says how to make it."""


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(weights: str) -> Dict:
    """``graphs.json`` of a weights folder, or an empty record."""
    path = os.path.join(weights, FOLDER, RECORD)
    if not os.path.isfile(path):
        return {"graphs": {}}
    with open(path) as f:
        return json.load(f)


def note(weights: str, names: Sequence[str], **about) -> None:
    """Enter graphs ``names`` (written into ``<weights>/onnx/``) in the record, made from the
    folder's current ``model.pt``; ``about``: how they were made. Graphs made from another
    ``model.pt`` are dropped from the record."""
    source = sha256(os.path.join(weights, "model.pt"))
    entry = record(weights)
    graphs = entry["graphs"] if entry.get("model.pt") == source else {}
    for name in names:
        graphs[name] = dict(about, sha256=sha256(os.path.join(weights, FOLDER, name)))
    entry.update({"model.pt": source, "graphs": graphs})
    with open(os.path.join(weights, FOLDER, RECORD + ".tmp"), "w") as f:
        json.dump(entry, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(os.path.join(weights, FOLDER, RECORD + ".tmp"), os.path.join(weights, FOLDER, RECORD))


def paths(weights: str, names: Sequence[str], make: str) -> List[str]:
    """The graphs ``names`` of a weights folder, each checked against the record: made from
    the folder's ``model.pt`` and unchanged since; else GraphsMissing naming ``make``, the
    command that writes them."""
    entry = record(weights)
    source = os.path.join(weights, "model.pt")
    if not entry["graphs"]:
        raise GraphsMissing("%s has no ONNX graphs (%s/%s); make them with `%s`" % (weights, FOLDER, RECORD, make))
    if not os.path.isfile(source) or entry.get("model.pt") != sha256(source):
        raise GraphsMissing("the ONNX graphs in %s were made from another model.pt; make them again with `%s`"
                            % (os.path.join(weights, FOLDER), make))
    out = []
    for name in names:
        path = os.path.join(weights, FOLDER, name)
        if name not in entry["graphs"] or not os.path.isfile(path):
            raise GraphsMissing("%s has no %s; make it with `%s`" % (weights, os.path.join(FOLDER, name), make))
        if sha256(path) != entry["graphs"][name]["sha256"]:
            raise GraphsMissing("%s is not the graph %s records (changed or a Git LFS pointer); make it again "
                                "with `%s`" % (path, RECORD, make))
        out.append(path)
    return out


def reads_upright(weights: str, upright_weights: str) -> bool:
    """Whether ``weights`` records a ``READS_UPRIGHT`` graph made with the upright network
    now in ``upright_weights`` (its ``model.pt``'s SHA-256)."""
    entry = record(weights)["graphs"].get(READS_UPRIGHT) or {}
    path = os.path.join(upright_weights, "model.pt")
    return bool(entry.get("upright")) and os.path.isfile(path) and entry["upright"] == sha256(path)
