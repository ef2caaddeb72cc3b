"""Training the region classifier from a small labelled folder, and the check using it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets.labelled_photos import LabelError, read_image_folder, read_manifest
from models.procedure_match import ProcedureMatchCheck
from models.region_classifier import MODEL_NAME, load_promoted
from moderation.checks.base import CheckContext
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy
from tests import real_photos
from training import train_region_classifier

# Crops of real photos (x, y, w, h in the source), a few per label.
_CROPS = {
    "eyes": [(190, 165, 150, 60), (180, 170, 170, 55), (200, 160, 140, 70)],
    "nose": [(230, 190, 80, 70), (225, 195, 90, 60), (235, 185, 70, 75)],
    "lips": [(215, 255, 110, 45), (210, 250, 120, 55), (220, 260, 100, 40)],
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    portrait = real_photos.grace_hopper()
    for label, boxes in _CROPS.items():
        (root / label).mkdir()
        for index, box in enumerate(boxes):
            Image.fromarray(real_photos.crop(portrait, *box)).save(root / label / f"{index}.jpg")
    (root / "none").mkdir()
    for index, name in enumerate(["coffee", "rocket", "brick"]):
        Image.fromarray(real_photos.skimage_photo(name)).save(root / "none" / f"{index}.png")
    (root / "rhinoplasty").mkdir()
    Image.fromarray(portrait).save(root / "rhinoplasty" / "0.jpg")
    Image.fromarray(portrait[:, ::-1]).save(root / "rhinoplasty" / "1.jpg")
    return root


def test_folder_names_become_labels(folder: Path) -> None:
    photos = read_image_folder(folder, default_taxonomy())
    by_folder = {p.path.parent.name: p for p in photos}
    assert by_folder["nose"].regions == ("nose",) and by_folder["nose"].procedure is None
    assert by_folder["none"].regions == ()
    assert by_folder["rhinoplasty"].procedure == "rhinoplasty"
    assert by_folder["rhinoplasty"].regions == ("nose",)


def test_an_unknown_label_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "breast+elbow").mkdir()
    with pytest.raises(LabelError, match="elbow"):
        read_image_folder(tmp_path, default_taxonomy())
    manifest = tmp_path / "photos.jsonl"
    manifest.write_text(json.dumps({"path": "a.jpg", "regions": ["nose"]}) + "\n"
                        + json.dumps({"path": "b.jpg", "procedure": "nose_job"}) + "\n")
    with pytest.raises(LabelError, match="line 2"):
        read_manifest(manifest, default_taxonomy())


def test_the_training_command_refuses_a_bad_folder_with_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "elbow").mkdir()
    with pytest.raises(SystemExit) as stopped:
        train_region_classifier.main(["--data", str(tmp_path), "--registry-root",
                                      str(tmp_path / "models")])
    assert stopped.value.code == 2
    assert "elbow" in capsys.readouterr().out


@pytest.mark.slow
def test_training_registers_promotes_and_the_check_uses_it(folder: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    train_region_classifier.main([
        "--data", str(folder), "--registry-root", str(data_dir / "models"), "--epochs", "2",
        "--image-size", "64", "--batch-size", "4", "--val-fraction", "0.34", "--version", "t1",
        "--threads", "1", "--promote"])
    version_dir = data_dir / "models" / MODEL_NAME / "t1"
    assert {"model.onnx", "labels.json", "meta.json", "card.md", "training.png"} <= {
        p.name for p in version_dir.iterdir()}
    meta = json.loads((version_dir / "meta.json").read_text())
    assert meta["data_version"] and "region_f1" in meta["metrics"]
    assert "--data" in meta["command"] and meta["config"]["seed"] == 0
    assert "scratch" in (version_dir / "card.md").read_text()  # no ImageNet weights cached here

    classifier = load_promoted(data_dir)
    assert classifier is not None and classifier.procedures == ["rhinoplasty"]
    output = classifier.predict(real_photos.skimage_photo("coffee"))
    assert set(output.regions) == set(default_taxonomy().regions)
    assert all(0 <= p <= 1 for p in output.regions.values())
    assert output.procedures["rhinoplasty"] == pytest.approx(1.0)

    settings = Settings(data_dir=data_dir)
    check = ProcedureMatchCheck(settings.check("procedure_match"),
                                CheckContext(settings=settings, taxonomy=default_taxonomy()))
    assert check.classifier is not None and check.model.name == MODEL_NAME
    assert check.model.version == "t1"
    np.testing.assert_allclose(  # the same photo, the same answer
        list(classifier.predict(real_photos.grace_hopper()).regions.values()),
        list(check.classifier.predict(real_photos.grace_hopper()).regions.values()), rtol=1e-5)
