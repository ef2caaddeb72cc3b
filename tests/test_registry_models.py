from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import ModelIntegrityError, ModelRegistry


def test_register_promote_and_layered_lookup(tmp_path: Path) -> None:
    shipped, trained = tmp_path / "shipped", tmp_path / "trained"
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights v1")
    ModelRegistry([shipped]).add("watermark", "1.0.0", {"model.onnx": weights},
                                 metrics={"auroc": 0.97}, card="# card\n")
    ModelRegistry([shipped]).promote("watermark", "1.0.0")
    registry = ModelRegistry([trained, shipped])
    assert registry.promoted("watermark").version == "1.0.0"
    weights.write_bytes(b"weights v2")
    registry.add("watermark", "1.1.0", {"model.onnx": weights}, metrics={"auroc": 0.98},
                 thresholds={"fail_at": 0.7}, data_version="ds-3", command="train ...")
    assert registry.promoted("watermark").version == "1.0.0"  # added is not promoted
    registry.promote("watermark", "1.1.0")
    served = registry.promoted("watermark")
    assert (served.version, served.thresholds, served.data_version) == ("1.1.0", {"fail_at": 0.7}, "ds-3")
    assert served.path("model.onnx").read_bytes() == b"weights v2"
    assert [v.version for v in registry.versions("watermark")] == ["1.1.0", "1.0.0"]
    served.verify()
    served.path("model.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        served.verify()
    with pytest.raises(FileExistsError):
        registry.add("watermark", "1.1.0", {"model.onnx": weights})
    with pytest.raises(KeyError):
        registry.promote("watermark", "9.9.9")
    assert registry.promoted("collage") is None
