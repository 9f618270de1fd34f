"""Fine-tune PP-OCRv6's small recogniser (``PP-OCRv6_rec_small.onnx`` from the ``rapidocr``
3.x wheel: convolutions and an SVTR mixer, 3 channels, 48 px high, [-1, 1]) on printed code
lines, in PyTorch, on the CPU; PaddleOCR's own trainer needs PaddlePaddle's training stack,
which does not install offline (its model card).

    make finetune-ppocrv6                       # generated lines only
    make finetune-ppocrv6 DATASET=path/to/photos

The ONNX graph becomes a PyTorch network with ``onnx2torch`` (``network``): its two
``SAME_UPPER`` paddings written out as explicit pads first (onnx2torch refuses them), the
max-pooling pad set to -inf (as ONNX pads a max pool), and every weight tensor made a trainable
parameter (onnx2torch keeps the mixer's MatMul and Add weights as buffers; its scalar
constants, exponents and epsilons, stay fixed). The converted network agrees with ONNX
Runtime on the same input (tests/test_lines.py). The 18,710-class head is cut down to the
code alphabet (blank, ``ALPHABET``, space), starting from those characters' own weights, so a
step costs the body only.

Written (``write``): ``NAME.onnx``, the network with its softmax, the alphabet in the model's
``character`` metadata, which rapidocr reads as it reads the shipped model's; the harness
runs it as engine ``ppocrv6-codes`` (adapters/ppocrv6.py, option ``rec_model``) through
rapidocr's own pipeline, PP-OCRv6's detector unchanged; and ``model.pt`` (fp16), from which
training continues. Lines are prepared as rapidocr's recogniser reads them: the detector's
box, 48 px high, [-1, 1], each batch padded with zeros on the right to at least 320 px; CTC
over every step of the padded line, as rapidocr decodes them all.
"""
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn

from models import recogniser_finetune
from synth.frames import CODE_ALPHABET

NAME = "PP-OCRv6_rec_codes"
SOURCE = "PP-OCRv6_rec_small.onnx"
HEIGHT, MIN_WIDTH, STEP = 48, 320, 8  # rapidocr's rec_img_shape; columns per CTC step
MAX_WIDTH = 1280  # longer lines are squeezed to it (an eighth of the cache; memory and time of a step)
CONTEXT_X, CONTEXT_Y = 0.2, 0.15  # PP-OCRv6's detector's boxes (unclipped) reach this far past the print
ALPHABET = CODE_ALPHABET.replace(" ", "")  # rapidocr puts the blank first and a space last around these
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "ppocrv6-codes")


def source_path() -> str:
    """The recogniser the ``rapidocr`` wheel ships (never downloaded)."""
    import rapidocr

    path = os.path.join(os.path.dirname(rapidocr.__file__), "models", SOURCE)
    if not os.path.isfile(path):
        raise FileNotFoundError("rapidocr's wheel lacks %s (%s)" % (SOURCE, path))
    return path


class Network(nn.Module):
    """PP-OCRv6's recogniser body (converted) and a head over the code alphabet:
    (N, 3, 48, W) in [-1, 1] -> (N, W / 8, classes) scores."""

    def __init__(self, body: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.body, self.head = body, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def network() -> Network:
    """PP-OCRv6's small recogniser as a trainable PyTorch network, its head cut to the code
    alphabet (from those characters' weights in the shipped head)."""
    import onnx
    import onnx2torch
    from onnx2torch.node_converters.pad import OnnxPadStatic

    model = onnx.load(source_path())
    for node in model.graph.node:  # onnx2torch refuses auto_pad SAME_UPPER (stride-1 convolutions and a pool)
        attrs = {a.name: a for a in node.attribute}
        if "auto_pad" in attrs and attrs["auto_pad"].s == b"SAME_UPPER":
            kernel = list(onnx.helper.get_attribute_value(attrs["kernel_shape"]))
            begin = [(k - 1) // 2 for k in kernel]
            node.attribute.remove(attrs["auto_pad"])
            node.attribute.append(onnx.helper.make_attribute("pads", begin + [k - 1 - b for k, b in zip(kernel, begin)]))
    shipped = ["blank"] + dict((p.key, p.value) for p in model.metadata_props)["character"].split("\n") + [" "]
    body = onnx2torch.convert(model)
    for name, module in body.named_modules():
        if name.startswith("MaxPool") and isinstance(module, OnnxPadStatic):
            module.constant_value = float("-inf")  # ONNX pads a max pool with -inf, not 0
    for name, buffer in list(body.initializers.named_buffers(recurse=False)):
        if buffer.is_floating_point() and buffer.numel() > 1:  # weights; scalars (exponents, epsilons) stay fixed
            delattr(body.initializers, name)
            body.initializers.register_parameter(name, nn.Parameter(buffer.clone()))
    graph = body.graph  # output <- Softmax <- Identity <- Add(bias) <- MatMul(features, weight)
    output = next(n for n in graph.nodes if n.op == "output")
    softmax = output.args[0]
    chain = [softmax]
    while "MatMul" not in str(chain[-1].target):
        chain.append(next(a for a in chain[-1].args if isinstance(a, torch.fx.Node) and a.op == "call_module"))
    matmul, add = chain[-1], chain[-2]
    weight = next(a for a in matmul.args if a.op == "get_attr")
    bias = next(a for a in add.args if isinstance(a, torch.fx.Node) and a.op == "get_attr")
    w, b = body.get_parameter(weight.target).detach(), body.get_parameter(bias.target).detach()
    keep = [0] + [shipped.index(c) for c in ALPHABET] + [len(shipped) - 1]
    head = nn.Linear(w.shape[0], len(keep))
    with torch.no_grad():
        head.weight.copy_(w[:, keep].T)
        head.bias.copy_(b[keep])
    output.args = (matmul.args[0],)
    for node in chain:
        graph.erase_node(node)
    graph.eliminate_dead_code()
    for node in (weight, bias):
        delattr(body.initializers, node.target.split(".")[-1])
    body.recompile()
    return Network(body, head)


class _WithSoftmax(nn.Module):
    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), -1)


class PPOCRv6(recogniser_finetune.Recogniser):
    name, network, origin = "ppocrv6-codes", NAME, "PP-OCRv6_rec_small (rapidocr wheel)"
    height, weights = HEIGHT, WEIGHTS
    chars = ALPHABET + " "

    def load(self, path: Optional[str] = None) -> torch.nn.Module:
        net = network()
        if path:
            state = torch.load(os.path.join(path, "model.pt"), map_location="cpu")
            net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        return net

    def written(self, folder: str) -> bool:
        return all(os.path.isfile(os.path.join(folder, f)) for f in (NAME + ".onnx", "model.pt"))

    def write(self, model: torch.nn.Module, folder: str) -> None:
        """``NAME.onnx`` (float32, softmax output, the alphabet as ``character`` metadata) and
        ``model.pt`` (fp16 state)."""
        import inspect

        import onnx
        from adapters.onnx_runtime import opset

        state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
                 for k, v in model.state_dict().items()}
        torch.save(state, os.path.join(folder, "model.pt.tmp"))
        legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        from torch.onnx import symbolic_helper

        if not hasattr(symbolic_helper, "GLOBALS") and not hasattr(symbolic_helper, "_export_onnx_opset_version"):
            symbolic_helper._export_onnx_opset_version = opset(torch)  # where onnx2torch 1.5 asks the exporter's opset
        exported = _WithSoftmax(model).eval()
        path = os.path.join(folder, NAME + ".onnx.tmp")
        training = model.training
        with torch.no_grad():
            torch.onnx.export(exported, (torch.zeros(1, 3, HEIGHT, MIN_WIDTH),), path, input_names=["x"],
                              output_names=["probs"], opset_version=opset(torch),
                              dynamic_axes={"x": {0: "lines", 3: "width"}, "probs": {0: "lines", 1: "steps"}}, **legacy)
        model.train(training)
        onnx_model = onnx.load(path)
        onnx.helper.set_model_props(onnx_model, {"character": "\n".join(ALPHABET)})
        onnx.save(onnx_model, path)
        os.replace(path, os.path.join(folder, NAME + ".onnx"))
        os.replace(os.path.join(folder, "model.pt.tmp"), os.path.join(folder, "model.pt"))

    def line_input(self, gray: np.ndarray, box) -> np.ndarray:
        """A line as rapidocr's recogniser is fed it: the box with CONTEXT_* around it (the
        image's edge repeated past it), HEIGHT rows (bilinear), float32 in [-1, 1]."""
        region = recogniser_finetune.region(gray, box, CONTEXT_X, CONTEXT_Y)
        width = int(min(MAX_WIDTH, max(STEP, np.ceil(HEIGHT * region.shape[1] / float(region.shape[0])))))
        out = cv2.resize(region, (width, HEIGHT))
        return (out.astype(np.float32) / 255.0 - 0.5) / 0.5

    def batch(self, inputs: List[np.ndarray], multiple: int = STEP) -> Tuple[np.ndarray, np.ndarray]:
        """(N, 3, HEIGHT, W): each line in three equal channels, zeros to its right, W the widest
        line or MIN_WIDTH (rapidocr's batches), rounded up to ``multiple``; every line decoded
        over all W / STEP steps, as rapidocr does."""
        multiple = max(multiple, STEP)
        widest = -(-max(MIN_WIDTH, max(x.shape[1] for x in inputs)) // multiple) * multiple
        out = np.zeros((len(inputs), 3, HEIGHT, widest), np.float32)
        for i, x in enumerate(inputs):
            out[i, :, :, :x.shape[1]] = x
        return out, np.full(len(inputs), widest // STEP, np.int64)

    def settings(self) -> Dict[str, Any]:
        return {"context": [CONTEXT_X, CONTEXT_Y], "alphabet": ALPHABET}


def main(argv: Optional[List[str]] = None) -> int:
    return recogniser_finetune.main(PPOCRv6(), argv, __doc__.split("\n")[0], lr=1e-4)


if __name__ == "__main__":
    sys.exit(main())
