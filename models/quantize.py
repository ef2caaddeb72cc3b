"""INT8 copies of the pretrained ONNX models the service runs, made by static quantisation.

    .venv/bin/python -m models.quantize [--models ocr-det,nudenet] [--images 48] [--seed 0]
                                        [--out models/weights/int8]

Static QDQ quantisation with ONNX Runtime (`onnxruntime.quantization.quantize_static`):
weights INT8 per output channel, activations UINT8 per tensor, their ranges calibrated
(min/max) on photos from the *training* split of `datasets.sample_photos`, with the same kinds
of marks and burned-in identifiers drawn on them as the benchmarks use (`datasets.watermarks`),
never on the held-out photos `bench/watermark_bench.py` and `bench/procedure_match.py` score.
Each calibration image is prepared exactly as the service prepares the model's input
(`OcrEngine.detect`, `BodyPartDetector.detect`). The ranges are deterministic for a seed, so
the command reproduces the shipped files bit for bit on one machine and ONNX Runtime version.

Models:
- `ocr-det`: RapidOCR's PP-OCRv4 text detector (Apache-2.0, in the rapidocr_onnxruntime
  wheel). Its opset 12 graph is first converted to opset 13 (per-channel QDQ needs it) and its
  shapes inferred (`quant_pre_process`).
- `nudenet`: NudeNet's 320n body-part detector (nudenet wheel: metadata MIT, licence file
  AGPL-3.0; see README "Licences of models and data").

The service picks the model per detector in settings: `[models.ocr] det_model` ("int8",
"fused" or "wheel") and `[checks.procedure_match.options] body_model` ("int8" or "fp32").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent / "weights" / "int8"
FILES = {"ocr-det": "ppocrv4-det-int8.onnx", "nudenet": "nudenet-320n-int8.onnx"}


def meta_file(name: str, root: Path = ROOT) -> Path:
    """What made the INT8 file of `name`: source, command, seed, calibration, sha256."""
    return root / f"{Path(FILES[name]).stem}.json"


def int8_model(name: str, root: Path = ROOT) -> Path:
    """The shipped INT8 file of `name` ("ocr-det" or "nudenet"); a clear error if absent."""
    path = root / FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"no INT8 model {path.name} under {root}: run `python -m models.quantize` "
            f"or choose an fp32 model in settings ([models.ocr] det_model, "
            f"[checks.procedure_match.options] body_model)")
    return path


# ---------------------------------------------------------------- calibration images

def calibration_photos(count: int, seed: int) -> Iterator[np.ndarray]:
    """RGB working images (1200-1600 px) from the training split: half with a watermark or
    logo drawn on, a quarter with a burned-in identifier, a quarter as they are (with a hard
    negative on some): the text and the skin the detectors meet."""
    from datasets import sample_photos
    from datasets.watermarks import WatermarkSynth, burned_in_phi_sample

    photos = sample_photos.split("train")
    synth = WatermarkSynth(photos, seed, long_side=(1200, 1600))
    for index in range(count):
        if index % 4 == 3:
            yield burned_in_phi_sample(photos, seed, index, long_side=1400).image
        else:
            yield synth.sample(index, marked=index % 4 != 2).image


def ocr_det_input(image: np.ndarray, det_max_side: int = 512) -> np.ndarray:
    """The text detector's input for an RGB image, as `models.ocr.OcrEngine.detect` makes it."""
    height, width = image.shape[:2]
    factor = det_max_side / max(height, width)
    det_w = max(32, int(round(width * factor / 32)) * 32)
    det_h = max(32, int(round(height * factor / 32)) * 32)
    small = cv2.resize(image, (det_w, det_h), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]


def nudenet_input(image: np.ndarray, size: int = 320) -> np.ndarray:
    """NudeNet's input, as `models.body_parts.BodyPartDetector.detect` makes it."""
    from moderation.imaging import shrink

    height, width = image.shape[:2]
    factor = size / max(height, width)
    resized = shrink(image, (max(1, round(width * factor)), max(1, round(height * factor))))
    square = np.zeros((size, size, 3), np.float32)
    square[:resized.shape[0], :resized.shape[1]] = resized / 255.0
    return square.transpose(2, 0, 1)[None]


# ---------------------------------------------------------------- quantisation

def source_model(name: str) -> Path:
    if name == "ocr-det":
        import rapidocr_onnxruntime

        from models.text_features import DETECTOR_FILE
        return Path(rapidocr_onnxruntime.__file__).parent / "models" / DETECTOR_FILE
    from models.body_parts import model_file
    return model_file()


def _prepare_ocr_det(source: Path, work: Path) -> Path:
    """The fused graph (`fused_ocr_det`) as a file, for the quantiser."""
    path = work / "det-fused.onnx"
    path.write_bytes(fused_ocr_det(source))
    return path


@lru_cache(maxsize=2)
def fused_ocr_det(source: Path) -> bytes:
    """The PP-OCRv4 detector converted from opset 12 to 14 (per-channel weights need 13,
    HardSwish 14) and `simplify`-ed: the same function in fewer ops (~0.3 s, in memory)."""
    import onnx
    from onnx import version_converter

    model = version_converter.convert_version(onnx.load(str(source)), 14)
    fused, _ = simplify(model)
    return fused.SerializeToString()


def simplify(model):  # type: ignore[no-untyped-def]
    """Exact rewrites of the paddle2onnx export (same function, fewer element-wise passes):

    - `Conv -> Mul(scalar) -> Add(scalar)` (PP-LCNetV3's learnable affine after a conv) folds
      into the conv's weights and bias;
    - `x * Clip(x + 3, 0, 6) / 6` becomes one `HardSwish` (opset 14).

    Each element-wise op left between two quantised convs costs a dequantise/quantise pair.
    Returns the model (changed in place) and how many of each rewrite were made."""
    import collections

    from onnx import helper, numpy_helper

    graph = model.graph
    constants = [n for n in graph.node if n.op_type == "Constant" and len(n.attribute) == 1
                 and n.attribute[0].name == "value"]
    for node in constants:  # Constant nodes as initializers, which the rewrites can read
        graph.initializer.append(numpy_helper.from_array(
            numpy_helper.to_array(node.attribute[0].t), node.output[0]))
        graph.node.remove(node)
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: dict[str, list] = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    graph_outputs = {o.name for o in graph.output}

    def scalar_other(node, name: str) -> float | None:  # type: ignore[no-untyped-def]
        others = [i for i in node.input if i != name]
        if len(others) != 1 or others[0] not in inits or inits[others[0]].size != 1:
            return None
        return float(inits[others[0]].ravel()[0])

    def only_consumer(name: str, op_type: str):  # type: ignore[no-untyped-def]
        nodes = consumers.get(name, [])
        if len(nodes) != 1 or nodes[0].op_type != op_type or name in graph_outputs:
            return None
        return nodes[0]

    dropped: set[int] = set()
    counts: collections.Counter[str] = collections.Counter()
    replacements: dict[int, object] = {}
    for conv in graph.node:
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in inits:
            continue
        mul = only_consumer(conv.output[0], "Mul")
        scale = scalar_other(mul, conv.output[0]) if mul is not None else None
        add = only_consumer(mul.output[0], "Add") if scale is not None else None
        shift = scalar_other(add, mul.output[0]) if add is not None else None
        if shift is None:
            continue
        weight = inits[conv.input[1]]
        bias = (inits[conv.input[2]] if len(conv.input) > 2 and conv.input[2]
                else np.zeros(weight.shape[0], np.float32))
        w_name, b_name = f"{conv.input[1]}/affine", f"{conv.output[0]}/affine_bias"
        graph.initializer.extend([
            numpy_helper.from_array((weight * np.float32(scale)).astype(np.float32), w_name),
            numpy_helper.from_array(
                (bias * np.float32(scale) + np.float32(shift)).astype(np.float32), b_name)])
        replacements[id(conv)] = helper.make_node(
            "Conv", [conv.input[0], w_name, b_name], [add.output[0]], name=conv.name + "/affine")
        replacements[id(conv)].attribute.extend(conv.attribute)
        dropped.update({id(mul), id(add)})
        counts["conv_affine_folded"] += 1
    for first in graph.node:  # x -> Add(3) -> Clip(0, 6) -> Mul(x, .) -> Div(6)
        if first.op_type != "Add" or id(first) in dropped:
            continue
        x = next((i for i in first.input if i not in inits), None)
        if x is None or scalar_other(first, x) != 3.0:
            continue
        clip = only_consumer(first.output[0], "Clip")
        if clip is None or [scalar_other_input(inits, clip, k) for k in (1, 2)] != [0.0, 6.0]:
            continue
        mul = only_consumer(clip.output[0], "Mul")
        if mul is None or set(mul.input) != {x, clip.output[0]}:
            continue
        div = only_consumer(mul.output[0], "Div")
        if div is None or div.input[0] != mul.output[0] or scalar_other(div, mul.output[0]) != 6.0:
            continue
        replacements[id(first)] = helper.make_node("HardSwish", [x], [div.output[0]],
                                                   name=div.name + "/hardswish")
        dropped.update({id(clip), id(mul), id(div)})
        counts["hardswish_fused"] += 1
    nodes = [replacements.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model, dict(counts)


def scalar_other_input(inits: dict, node,  # type: ignore[no-untyped-def]
                       index: int) -> float | None:
    if len(node.input) <= index or node.input[index] not in inits:
        return None
    value = inits[node.input[index]]
    return float(value.ravel()[0]) if value.size == 1 else None


def quantize(name: str, images: list[np.ndarray], out: Path) -> dict[str, object]:
    import onnx
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = source_model(name)
    prepare: Callable[[np.ndarray], np.ndarray] = (
        ocr_det_input if name == "ocr-det" else nudenet_input)
    input_name = onnxruntime.InferenceSession(
        str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    batches = [prepare(image) for image in images]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(tqdm(batches, desc=f"calibrating {name}", unit="image"))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        model = _prepare_ocr_det(source, work) if name == "ocr-det" else source
        preprocessed = work / "pre.onnx"
        quant_pre_process(str(model), str(preprocessed), skip_symbolic_shape=True)
        target = out / FILES[name]
        excluded = float_head(onnx.load(str(preprocessed)), name)
        quantize_static(
            str(preprocessed), str(target), Reader(), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded,
            extra_options={"CalibTensorRangeSymmetric": False})
    onnx.checker.check_model(str(target))
    return {"source": source.name, "source_sha256": _sha256(source), "file": target.name,
            "kept_in_float": len(excluded),
            "sha256": _sha256(target), "bytes": target.stat().st_size,
            "calibration_images": len(batches)}


def float_head(model, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Nodes left in float: the decoding head, whose outputs are scores and coordinates.

    - nudenet (YOLOv8): the last conv of each box/class branch and everything after it. One
      scale for its output, which joins box coordinates (0-320 px) and class probabilities,
      would round every probability to 0 or 1.3 (measured).
    - ocr-det (DBNet): the head after the neck's last Concat (its convs, transposed convs and
      the sigmoid of the probability map)."""
    import re

    graph = model.graph
    if name == "nudenet":
        pattern = re.compile(r"/model\.22/cv[23]\.\d+/cv[23]\.\d+\.2/")
        seeds = [node for node in graph.node if pattern.search(node.name)]
    else:
        seeds = [[node for node in graph.node if node.op_type == "Concat"][-1]]
    consumers: dict[str, list] = {}
    for node in graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    excluded, stack = {}, list(seeds)
    while stack:
        node = stack.pop()
        if node.name in excluded:
            continue
        excluded[node.name] = node
        for tensor in node.output:
            stack.extend(consumers.get(tensor, []))
    if not seeds or any(not n for n in excluded):
        raise ValueError(f"{name}: the head to keep in float was not found (unnamed nodes?)")
    return sorted(excluded)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ocr-det,nudenet",
                        help="comma-separated: ocr-det, nudenet")
    parser.add_argument("--images", type=int, default=48, help="calibration images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in FILES]
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(FILES)}")
    import onnxruntime

    from datasets import sample_photos
    sample_photos.fetch(sample_photos.split("train"))
    images = list(tqdm(calibration_photos(args.images, args.seed), total=args.images,
                       desc="calibration photos (training split)", unit="photo"))
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        meta = {
            **quantize(name, images, args.out),
            "command": f"python -m models.quantize --models {','.join(names)} "
                       f"--images {args.images} --seed {args.seed}",
            "seed": args.seed, "onnxruntime": onnxruntime.__version__,
            "calibration": "datasets.sample_photos split 'train' with datasets.watermarks marks "
                           "and burned-in identifiers (index % 4: 0-1 marked, 2 unmarked, 3 PHI)",
            "scheme": "static QDQ, weights int8 per channel, activations uint8 per tensor, "
                      "min/max; the decoding head in float (models.quantize.float_head)",
        }
        meta_file(name, args.out).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        print(f"{name}: {meta['file']} ({meta['bytes'] / 1e6:.1f} MB), sha256 {meta['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
