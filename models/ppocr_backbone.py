"""The OCR text detector's pretrained backbone as trainable PyTorch stages.

PP-OCRv4's detector (a PP-LCNetV3 backbone; Apache-2.0, shipped as ONNX inside the
rapidocr_onnxruntime wheel) learnt its features from text in real photos at scale: a start the
watermark network cannot get from 60 scenes (torchvision's own pretrained weights would be
downloaded, which nothing here may do). onnx2torch turns three pieces of its graph into
modules, cut at the backbone's tensors of stride 8, 16 and 32:

- `prefix`: the input (RGB / 127.5 - 1) to stride 8 (96 channels), the part a tuned
  network keeps frozen, so it stays the OCR pass's own computation;
- `stage16`: stride 8 to 16 (192 channels), the tensor `models.text_features` calls
  BACKBONE_16;
- `stage32`: stride 16 to 32 (384 channels).

The tensor names are those of the paddle2onnx export in rapidocr_onnxruntime 1.4
(`models.text_features` relies on the same export): a clear error if they change.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from models.text_features import BACKBONE_8, BACKBONE_16, DETECTOR_FILE

INPUT = "x"
BACKBONE_32 = "p2o.Add.215"
CHANNELS = {"prefix": 96, "stage16": 192, "stage32": 384}


@dataclass
class Stages:
    prefix: nn.Module
    stage16: nn.Module
    stage32: nn.Module


def detector_file() -> Path:
    """The wheel's detector, found without importing the package (which needs its OCR
    dependencies: the training machine may carry the wheel's files alone)."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("rapidocr_onnxruntime is not installed: the backbone's "
                                "weights are its detector's")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / DETECTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"rapidocr_onnxruntime has no {path.name}")
    return path


def load_stages(path: Path | None = None) -> Stages:
    """The three stages with the detector's weights, in eval mode."""
    import onnx
    from onnx2torch import convert

    model = _constants_as_initializers(onnx.load(str(path or detector_file())))
    model = onnx.shape_inference.infer_shapes(model)  # the extractor cuts at typed tensors
    produced = {name for node in model.graph.node for name in node.output}
    missing = [name for name in (BACKBONE_8, BACKBONE_16, BACKBONE_32) if name not in produced]
    if missing:
        raise ValueError(f"the text detector graph lacks the tensors {missing}: "
                         "the backbone needs the wheel's PP-OCRv4 detector")

    def piece(start: str, end: str) -> nn.Module:
        extracted = onnx.utils.Extractor(model).extract_model([start], [end])
        return convert(extracted).eval()

    return Stages(piece(INPUT, BACKBONE_8), piece(BACKBONE_8, BACKBONE_16),
                  piece(BACKBONE_16, BACKBONE_32))


def _constants_as_initializers(model):
    """paddle2onnx writes weights as Constant nodes; onnx2torch reads initializers."""
    kept = []
    for node in model.graph.node:
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            tensor = node.attribute[0].t
            tensor.name = node.output[0]
            model.graph.initializer.append(tensor)
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model
