"""The OCR text detector's backbone as PyTorch stages (watermark 1.6's starting point): the
real PP-OCRv4 detector from the rapidocr_onnxruntime wheel, converted by onnx2torch, checked
against ONNX Runtime running the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper

from models import ppocr_backbone
from models.watermark import MarkNet


@pytest.fixture(scope="module")
def stages() -> ppocr_backbone.Stages:
    return ppocr_backbone.load_stages()


def detector_tensors(names: list[str], batch: np.ndarray) -> list[np.ndarray]:
    """The named inner tensors as ONNX Runtime computes them in the wheel's detector."""
    model = onnx.load(str(ppocr_backbone.detector_file()))
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(names, {ppocr_backbone.INPUT: batch})


def test_the_stages_compute_the_detectors_own_tensors(stages) -> None:  # type: ignore[no-untyped-def]
    batch = np.random.default_rng(0).uniform(-1, 1, (1, 3, 128, 160)).astype(np.float32)
    names = [ppocr_backbone.BACKBONE_8, ppocr_backbone.BACKBONE_16, ppocr_backbone.BACKBONE_32]
    expected = detector_tensors(names, batch)
    with torch.inference_mode():
        at8 = stages.prefix(torch.from_numpy(batch))
        at16 = stages.stage16(at8)
        at32 = stages.stage32(at16)
    for ours, theirs, stride, key in zip((at8, at16, at32), expected, (8, 16, 32),
                                         ("prefix", "stage16", "stage32")):
        assert ours.shape == (1, ppocr_backbone.CHANNELS[key], 128 // stride, 160 // stride)
        assert np.abs(ours.numpy() - theirs).max() < 1e-3 * max(1.0, np.abs(theirs).max())


def test_a_graph_without_the_backbone_tensors_is_refused_by_name(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "not-a-detector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match=r"lacks the tensors \['p2o.Add.71'"):
        ppocr_backbone.load_stages(path)


def trained_step(network: MarkNet) -> dict[str, torch.Tensor]:
    """One optimiser step in training mode; the state before it."""
    before = {name: value.detach().clone() for name, value in network.state_dict().items()}
    network.train()
    optimizer = torch.optim.SGD([p for p in network.parameters() if p.requires_grad], lr=0.1)
    images = torch.rand(2, 3, 96, 128) * 255
    network(images).mean().backward()
    optimizer.step()
    return before


@pytest.mark.parametrize("freeze_to, frozen, learning", [
    (8, "shallow.0.module.", "shallow.1."),  # the stride-16 stage learns
    (16, "shallow.module.", "deep."),  # only the stride-32 stage and the head
])
def test_frozen_layers_keep_the_detectors_weights_and_statistics(  # type: ignore[no-untyped-def]
        freeze_to, frozen, learning) -> None:
    network = MarkNet(1.0, "ppocr", freeze_to)
    before = trained_step(network)
    after = network.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(name.startswith(frozen) for name in before)
    assert not any(name.startswith(frozen) for name in changed)  # weights and BN statistics
    assert any(name.startswith(learning) for name in changed)
    frozen_stage = network.shallow if freeze_to == 16 else network.shallow[0]
    assert not any(module.training for module in frozen_stage.modules()
                   if isinstance(module, torch.nn.BatchNorm2d))


def test_nothing_frozen_tunes_the_first_layers_and_keeps_their_statistics() -> None:
    network = MarkNet(1.0, "ppocr", 0)
    before = trained_step(network)
    after = network.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    first = [name for name in before if name.startswith("shallow.0.module.")]
    statistics = [name for name in first if name.endswith(("running_mean", "running_var"))]
    assert statistics and not set(statistics) & changed  # the detector's statistics stay
    assert set(first) - set(statistics) & changed  # its weights learn
    assert not any(module.training for module in network.shallow[0].modules()
                   if isinstance(module, torch.nn.BatchNorm2d))


def test_a_network_trained_frozen_starts_one_with_nothing_frozen() -> None:
    frozen, tuned = MarkNet(1.0, "ppocr", 8), MarkNet(1.0, "ppocr", 0)
    tuned.load_state_dict(frozen.state_dict())  # the same names: --init carries over
    image = torch.rand(1, 3, 64, 96) * 255
    with torch.inference_mode():
        assert torch.allclose(frozen.eval()(image), tuned.eval()(image), atol=1e-6)


def test_the_network_scales_its_input_as_the_detector_does(stages) -> None:  # type: ignore[no-untyped-def]
    network = MarkNet(1.0, "ppocr").eval()
    image = torch.rand(1, 3, 64, 96) * 255
    with torch.inference_mode():
        inside = network.shallow[0](image / 127.5 - 1.0)
        expected = stages.prefix(image / 127.5 - 1.0)
        assert network(image).shape == (1, 1, 4, 6)
    assert torch.allclose(inside, expected, atol=1e-5)


def test_an_unknown_freeze_stride_is_refused() -> None:
    with pytest.raises(ValueError, match=r"freeze_to must be one of \(0, 8, 16\), not 4"):
        MarkNet(1.0, "ppocr", 4)
