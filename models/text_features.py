"""The OCR text detector's own features, exposed for the learned watermark head.

PP-OCRv4's detector (RapidOCR, Apache-2.0) is a PP-LCNetV3 backbone and an RSE-FPN neck,
pretrained on text at scale; it already runs on every photo for the OCR (`models.ocr`). This
module adds one output to its ONNX graph, `text_features`: at stride 16 of the detector's input,
the concatenation of

- the backbone's stride-16 stage (192 channels),
- the neck's merged stride-16 map (96),
- the fused stride-4 map the DB head reads (96), max- and average-pooled over 4x4 (96 + 96),
- the text probability map itself, max- and average-pooled over 16x16 (2),

so the OCR pass yields, for ~nothing more, what `models.watermark.FeatureHead` scores. A
second output, `backbone8`, is the backbone's stride-8 stage (96 channels) as it is: the input
of the layers a watermark network on this backbone learnt (`models.watermark.MarkNetTail`),
which then run on the OCR pass's own tensor instead of repeating the layers below it. The
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
BACKBONE_8_OUTPUT = "backbone8"
DETECTOR_FILE = "ch_PP-OCRv4_det_infer.onnx"  # in the wheel's models/ folder
STRIDE = 16
BACKBONE_8 = "p2o.Add.71"
BACKBONE_8_CHANNELS = 96
BACKBONE_16 = "p2o.Add.147"
NECK_16 = "p2o.Add.249"
FUSED_4 = "p2o.Concat.1"
PROBABILITY = "sigmoid_0.tmp_0"
GROUPS = {"backbone16": 192, "neck16": 96, "fused_max": 96, "fused_mean": 96, "text_prob": 2}
CHANNELS = sum(GROUPS.values())


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
    """`model` (changed in place) with the `text_features` and `backbone8` outputs added after
    its own."""
    from onnx import TensorProto, helper

    graph = model.graph
    produced = {name for node in graph.node for name in node.output}
    missing = [name for name in (BACKBONE_8, BACKBONE_16, NECK_16, FUSED_4, PROBABILITY)
               if name not in produced]
    if missing:
        raise ValueError(f"the text detector graph lacks the tensors {missing}: "
                         "features need the wheel's or the fused PP-OCRv4 detector")

    def pool(op: str, source: str, size: int) -> str:
        name = f"{FEATURE_OUTPUT}/{op}{size}/{source}"
        graph.node.append(helper.make_node(op, [source], [name], kernel_shape=[size, size],
                                           strides=[size, size]))
        return name

    parts = [BACKBONE_16, NECK_16, pool("MaxPool", FUSED_4, 4), pool("AveragePool", FUSED_4, 4),
             pool("MaxPool", PROBABILITY, 16), pool("AveragePool", PROBABILITY, 16)]
    graph.node.append(helper.make_node("Concat", parts, [FEATURE_OUTPUT], axis=1))
    graph.output.append(helper.make_tensor_value_info(FEATURE_OUTPUT, TensorProto.FLOAT,
                                                      [1, CHANNELS, None, None]))
    graph.node.append(helper.make_node("Identity", [BACKBONE_8], [BACKBONE_8_OUTPUT]))
    graph.output.append(helper.make_tensor_value_info(BACKBONE_8_OUTPUT, TensorProto.FLOAT,
                                                      [1, BACKBONE_8_CHANNELS, None, None]))
    return model


def with_feature_output(model_bytes: bytes) -> bytes:
    import onnx

    return add_feature_output(onnx.load_from_string(model_bytes)).SerializeToString()
