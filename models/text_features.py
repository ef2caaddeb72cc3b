"""The OCR text detector's own features, exposed for the learned watermark head.

PP-OCRv4's detector (RapidOCR, Apache-2.0) is a PP-LCNetV3 backbone and an RSE-FPN neck,
pretrained on text at scale; it already runs on every photo for the OCR (`models.ocr`). This
module adds one output to its ONNX graph, `text_features`: at stride 16 of the detector's input,
the concatenation of

- the backbone's stride-16 stage (192 channels),
- the neck's merged stride-16 map (96),
- the fused stride-4 map the DB head reads (96), max- and average-pooled over 4x4 (96 + 96),
- the text probability map itself, max- and average-pooled over 16x16 (2),
- the detector's own input pixels summed up per 16x16 cell (`pixels`, 21): per colour channel
  the mean, spread, brightest and darkest value and the mean and largest detail (the pixel
  minus its 3x3 mean); the mean saturation; and the mean and least spread of the cell's 4x4
  blocks of brightness. The text features are blind to a mark without letters (a flat logo,
  a faint tint over texture); these say where a cell is flatter, paler or less detailed than
  its neighbours, which is what a semi-transparent overlay does to a photo,

so the OCR pass yields, for ~nothing more, what `models.watermark.FeatureHead` scores. The
tensor names are those of the paddle2onnx export shipped in rapidocr_onnxruntime 1.4 (the
"wheel" and "fused" graphs keep them): a clear error if they change. The INT8 graph's tensors of
those names are far from the fp32 ones (mean |difference| ~40% of their mean), so
`models.ocr` gives no features with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

FEATURE_OUTPUT = "text_features"
STRIDE = 16
BACKBONE_16 = "p2o.Add.147"
NECK_16 = "p2o.Add.249"
FUSED_4 = "p2o.Concat.1"
PROBABILITY = "sigmoid_0.tmp_0"
GROUPS = {"backbone16": 192, "neck16": 96, "fused_max": 96, "fused_mean": 96, "text_prob": 2,
          "pixels": 21}
CHANNELS = sum(GROUPS.values())
# What watermark 2.0-2.2 read (the channels before `pixels`, which came later).
TEXT_GROUPS = ("backbone16", "neck16", "fused_max", "fused_mean", "text_prob")


def channels_of(groups: list[str]) -> list[int]:
    """The channel indices of the named groups in the `text_features` output."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown feature groups {sorted(unknown)}; known: {', '.join(GROUPS)}")
    indices, start = [], 0
    for group, size in GROUPS.items():
        if group in groups:
            indices += list(range(start, start + size))
        start += size
    return indices


def add_feature_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` (changed in place) with the `text_features` output added after its own."""
    from onnx import TensorProto, helper

    graph = model.graph
    produced = {name for node in graph.node for name in node.output}
    missing = [name for name in (BACKBONE_16, NECK_16, FUSED_4, PROBABILITY) if name not in produced]
    if missing:
        raise ValueError(f"the text detector graph lacks the tensors {missing}: "
                         "features need the wheel's or the fused PP-OCRv4 detector")

    pooled: set[str] = set()

    def pool(op: str, source: str, size: int) -> str:  # once per (op, size, source)
        name = f"{FEATURE_OUTPUT}/{op}{size}/{source}"
        if name not in pooled:
            graph.node.append(helper.make_node(op, [source], [name], kernel_shape=[size, size],
                                               strides=[size, size]))
            pooled.add(name)
        return name

    parts = [BACKBONE_16, NECK_16, pool("MaxPool", FUSED_4, 4), pool("AveragePool", FUSED_4, 4),
             pool("MaxPool", PROBABILITY, 16), pool("AveragePool", PROBABILITY, 16),
             *_pixel_statistics(graph, graph.input[0].name, pool)]
    graph.node.append(helper.make_node("Concat", parts, [FEATURE_OUTPUT], axis=1))
    graph.output.append(helper.make_tensor_value_info(FEATURE_OUTPUT, TensorProto.FLOAT,
                                                      [1, CHANNELS, None, None]))
    return model


def _pixel_statistics(graph, image: str, pool) -> list[str]:  # type: ignore[no-untyped-def]
    """The `pixels` group's nodes on the detector's input (N x 3 x H x W, scaled to -1..1),
    appended to `graph`; returns its outputs in channel order (3 x 6 + 3 = 21 channels)."""
    import numpy as np
    from onnx import helper, numpy_helper

    count = iter(range(1000))

    def node(op: str, *inputs: str, **attributes) -> str:  # type: ignore[no-untyped-def]
        name = f"{FEATURE_OUTPUT}/pixels/{op}{next(count)}"
        graph.node.append(helper.make_node(op, list(inputs), [name], **attributes))
        return name

    epsilon = f"{FEATURE_OUTPUT}/pixels/epsilon"
    graph.initializer.append(numpy_helper.from_array(np.array(1e-6, np.float32), epsilon))

    def spread(values: str, size: int) -> str:  # sqrt(E[v^2] - E[v]^2), per size x size block
        mean = pool("AveragePool", values, size)
        square = pool("AveragePool", node("Mul", values, values), size)
        variance = node("Relu", node("Sub", square, node("Mul", mean, mean)))
        return node("Sqrt", node("Add", variance, epsilon))

    def least(values: str, size: int) -> str:
        return node("Neg", pool("MaxPool", node("Neg", values), size))

    local_mean = node("AveragePool", image, kernel_shape=[3, 3], strides=[1, 1],
                      pads=[1, 1, 1, 1], count_include_pad=0)
    detail = node("Abs", node("Sub", image, local_mean))
    saturation = node("Sub", node("ReduceMax", image, axes=[1], keepdims=1),
                      node("ReduceMin", image, axes=[1], keepdims=1))
    brightness = node("ReduceMean", image, axes=[1], keepdims=1)
    block_spread = spread(brightness, 4)  # stride 4: pooled by 4 more to the 16-px cell
    return [pool("AveragePool", image, 16), spread(image, 16), pool("MaxPool", image, 16),
            least(image, 16), pool("AveragePool", detail, 16), pool("MaxPool", detail, 16),
            pool("AveragePool", saturation, 16), pool("AveragePool", block_spread, 4),
            least(block_spread, 4)]


def with_feature_output(model_bytes: bytes) -> bytes:
    import onnx

    return add_feature_output(onnx.load_from_string(model_bytes)).SerializeToString()
