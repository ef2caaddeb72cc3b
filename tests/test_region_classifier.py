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


def _grouped_folder(root: Path) -> Path:
    """A folder with groups.json: 5 people (eyes and nose crops each), 5 scenes."""
    portrait = real_photos.grace_hopper()
    groups = {}
    for label in ("eyes", "nose", "none"):
        (root / label).mkdir()
    for person in range(5):
        for label, box in (("eyes", _CROPS["eyes"][person % 3]), ("nose", _CROPS["nose"][person % 3])):
            name = f"{label}/{person}.jpg"
            Image.fromarray(real_photos.crop(portrait, *box)).save(root / name)
            groups[name] = f"person:p{person}"
    for index, scene in enumerate(["coffee", "rocket", "brick", "camera", "coins"]):
        name = f"none/{index}.png"
        Image.fromarray(real_photos.skimage_photo(scene)).save(root / name)
        groups[name] = f"scene:{scene}"
    (root / "groups.json").write_text(json.dumps({"groups": groups}))
    return root


def test_the_group_split_holds_out_whole_people_and_scenes(tmp_path: Path) -> None:
    root = _grouped_folder(tmp_path)
    photos = read_image_folder(root, default_taxonomy())
    groups = train_region_classifier.read_groups(root)
    assert groups is not None and len(groups) == len(photos) == 15
    train, val = train_region_classifier.group_split(photos, groups, 0.2, seed=0)
    train_groups, val_groups = {groups[p.path] for p in train}, {groups[p.path] for p in val}
    assert not train_groups & val_groups  # no person on both sides
    assert len(train) + len(val) == 15
    # a share of each kind: one of the five people (both crops) and one of the five scenes
    assert sorted(g.partition(":")[0] for g in val_groups) == ["person", "scene"]
    assert len(val) == 3
    again = train_region_classifier.group_split(photos, groups, 0.2, seed=0)[1]
    assert [p.path for p in again] == [p.path for p in val]  # seeded
    other = {groups[p.path] for s in range(1, 6)
             for p in train_region_classifier.group_split(photos, groups, 0.2, seed=s)[1]}
    assert len(other) > 2  # the seed moves the held-out groups
    # without groups.json the label split (crops of one person on both sides) is what runs
    args = train_region_classifier.parse_args(["--data", str(root)])
    assert train_region_classifier.split_for(args, photos)[2] == "group"
    args = train_region_classifier.parse_args(["--data", str(root), "--split", "label"])
    assert train_region_classifier.split_for(args, photos)[2] == "label"
    (root / "groups.json").unlink()
    args = train_region_classifier.parse_args(["--data", str(root), "--split", "group"])
    with pytest.raises(LabelError, match="groups.json"):
        train_region_classifier.split_for(args, photos)


def test_the_mirror_average_is_the_mean_of_the_photo_and_its_mirror_image() -> None:
    from models.region_classifier import RegionClassifier
    from models.registry import ModelVersion

    version = ModelVersion.read(Path("models/weights/region-classifier/1.2.0"))
    plain, flipped = RegionClassifier(version), RegionClassifier(version, flip=True)
    photo = real_photos.crop(real_photos.grace_hopper(), 150, 100, 250, 300)  # not symmetric
    mirror = np.ascontiguousarray(photo[:, ::-1])
    one, other = plain.predict(photo).regions, plain.predict(mirror).regions
    averaged = flipped.predict(photo).regions
    assert averaged == pytest.approx({r: (one[r] + other[r]) / 2 for r in one}, abs=1e-5)
    assert max(abs(one[r] - other[r]) for r in one) > 1e-3  # the mirror image does differ
    assert flipped.predict(mirror).regions == pytest.approx(averaged, abs=1e-5)


def test_classifier_flip_is_a_setting_of_the_check(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    base = settings.check("procedure_match")
    checks = {}
    for flip in (False, True):
        check_settings = base.model_copy(update={"options": {**base.options, "classifier_flip": flip}})
        context = CheckContext(settings=settings, taxonomy=default_taxonomy())
        checks[flip] = ProcedureMatchCheck(check_settings, context)
    assert checks[False].classifier is not None and checks[False].classifier.flip is False
    assert checks[True].classifier.flip is True  # the shipped classifier, averaged with its mirror
    assert Settings(data_dir=tmp_path).check("procedure_match").options["classifier_flip"] is True
