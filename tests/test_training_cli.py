"""The pieces of the retraining loop on their own: the split by member, dataset checksums,
threshold calibration, the promotion gate, promotion history, the registered threshold in the
collage check, and the training CLI's answers to bad input and to a worse model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from datasets.demo_labels import write_demo
from datasets.staff_dataset import DatasetError, StaffDataset, split_members
from models.registry import SHIPPED_ROOT, ModelRegistry
from moderation.policy import on_scale
from tests.conftest import LARGE_WATERMARK
from training.cli import app as training_cli
from training.config import PromotionSettings
from training.evaluation import metrics_at, threshold_for
from training.promotion import judge

CONFIGS = Path(__file__).parents[1] / "training" / "configs"
# The collage version this repository ships promoted: what a new run is measured against.
SHIPPED_COLLAGE = ModelRegistry([SHIPPED_ROOT]).promoted("collage").version
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Seeded: on this set a barely trained fresh network ranks photos worse than the shipped one.
    return write_demo(tmp_path_factory.mktemp("exports"), count=80, members=8, seed=2)


def test_split_by_member_keeps_every_member_in_one_split() -> None:
    members = [f"m-{i % 9}" for i in range(200)]
    splits = split_members(members, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=3)
    assert set(splits) == set(members)
    assert {name: list(splits.values()).count(name) for name in ("train", "val", "test")} == {
        "train": 5, "val": 2, "test": 2}
    assert split_members(members, {"val": 0.2, "test": 0.2}, seed=3) == splits  # seeded
    assert split_members(["a", "b", "c"], {"val": 0.05, "test": 0.05}, 0).values() != {"train"}


def test_a_dataset_opens_only_when_its_checksums_match(demo_dataset: Path, tmp_path: Path) -> None:
    dataset = StaffDataset(demo_dataset)
    assert dataset.version == demo_dataset.name and len(dataset.items) == 80
    by_split = {split: {i.member_id for i in dataset.items if i.split == split}
                for split in ("train", "val", "test")}
    assert sum(len(members) for members in by_split.values()) == 8
    copy = tmp_path / "copy"
    shutil.copytree(demo_dataset, copy)
    photo = copy / dataset.items[0].photo
    photo.write_bytes(photo.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="does not match its checksum"):
        StaffDataset(copy)
    with pytest.raises(DatasetError, match="not a dataset folder"):
        StaffDataset(tmp_path)


def test_threshold_meets_the_target_precision_or_recall() -> None:
    labels = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9])
    precise = threshold_for(labels, scores, "precision", 1.0)
    assert precise == 0.6 and metrics_at(labels, scores, precise)["precision"] == 1.0
    sensitive = threshold_for(labels, scores, "recall", 1.0)
    assert sensitive == 0.45 and metrics_at(labels, scores, sensitive)["recall"] == 1.0
    assert metrics_at(np.zeros(3, int), np.array([0.1, 0.2, 0.3]), 0.5)["auroc"] is None


def test_the_gate_promotes_only_when_not_worse_within_the_margin() -> None:
    rule = PromotionSettings(metric="auroc", margin=0.02)
    assert judge({"auroc": 0.90}, {"auroc": 0.91}, rule).promote
    refused = judge({"auroc": 0.85}, {"auroc": 0.91}, rule)
    assert not refused.promote and "0.8500" in refused.reason and "0.9100" in refused.reason
    assert judge({"auroc": 0.5}, None, rule).promote  # nothing served yet
    assert not judge({"auroc": None}, {"auroc": 0.9}, rule).promote  # one-class test split


def test_promotions_are_recorded_with_the_version_they_replace(tmp_path: Path) -> None:
    registry = ModelRegistry([tmp_path / "trained", SHIPPED_ROOT])
    weights = tmp_path / "collage.pt"
    weights.write_bytes(SHIPPED_ROOT.joinpath(f"collage/{SHIPPED_COLLAGE}/collage.pt").read_bytes())
    registry.add("collage", "2.0.0", {"collage.pt": weights}, thresholds={"score": 0.4})
    registry.promote("collage", "2.0.0", note="auroc 0.99 vs 0.98")
    assert registry.promoted("collage").version == "2.0.0"
    assert [(h["previous"], h["version"], h["note"]) for h in registry.history("collage")] == [
        (SHIPPED_COLLAGE, "2.0.0", "auroc 0.99 vs 0.98")]


def test_the_collage_check_puts_the_registered_threshold_on_fail_at(tmp_path: Path) -> None:
    from models.checks.collage import CollageCheck
    from models.collage import CollageScorer
    from moderation.checks.base import CheckContext
    from moderation.image_formats import ImageFormat
    from moderation.intake import PreparedPhoto
    from moderation.settings import Settings
    from moderation.taxonomy import default_taxonomy
    from tests import photos

    settings = Settings(data_dir=tmp_path, checks={"collage": {"options": {
        "use_ocr_labels": False}}})
    shipped = ModelRegistry([SHIPPED_ROOT]).promoted("collage")
    registry = ModelRegistry.default(tmp_path)
    registry.add("collage", "9.0.0", {name: shipped.path(name) for name in shipped.files},
                 thresholds={"score": 0.3})
    registry.promote("collage", "9.0.0")
    check = CollageCheck(settings.check("collage"),
                         CheckContext(settings=settings, taxonomy=default_taxonomy()))
    image = np.asarray(photos.scene(640, 480, seed=5))
    photo = PreparedPhoto(id="set1/before", part="b1", view=None, data=b"", sha256="0" * 64,
                          format=ImageFormat.JPEG, width=640, height=480, image=image)
    raw = CollageScorer(registry.promoted("collage")).score(image)[0]
    observation = check._observe(photo)
    assert check.model.version == "9.0.0"
    assert observation.score == pytest.approx(on_scale(raw, 0.3, settings.check("collage").fail_at))


def test_the_cli_refuses_a_worse_model_and_shows_the_figures(demo_dataset: Path,
                                                            tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = runner.invoke(training_cli, [
        "train", "collage", "--data", str(demo_dataset), "--config",
        str(CONFIGS / "collage_scratch_tiny.toml"), "--out", str(run_dir), "--version", "0.0.1",
        "--registry-root", str(tmp_path / "models"), "--promote"])
    assert result.exit_code == 1, result.output
    run = json.loads((run_dir / "run.json").read_text())
    new = run["results"]["candidate"]["test"]["auroc"]
    old = run["results"]["promoted"]["test"]["auroc"]
    assert new < old - 0.01
    assert "not promoted" in result.output
    assert f"{new:.4f}" in result.output and f"{old:.4f}" in result.output
    assert "| auroc (gate) |" in (run_dir / "report" / "metrics.md").read_text()
    registry = ModelRegistry([tmp_path / "models", SHIPPED_ROOT])
    assert registry.promoted("collage").version == SHIPPED_COLLAGE
    again = runner.invoke(training_cli, ["promote", str(run_dir),
                                         "--registry-root", str(tmp_path / "models")])
    assert again.exit_code == 1 and "not promoted" in again.output
    assert registry.get("collage", "0.0.1") is None


def test_the_cli_names_what_is_wrong_with_its_input(demo_dataset: Path, tmp_path: Path) -> None:
    def train(*extra: str, learner: str = "collage") -> tuple[int, str]:
        result = runner.invoke(training_cli, [
            "train", learner, "--data", str(demo_dataset), "--out", str(tmp_path / "run"),
            "--registry-root", str(tmp_path / "models"), *extra])
        return result.exit_code, " ".join(result.output.split())

    bad = tmp_path / "bad.toml"
    bad.write_text('learner = "collage"\n[train]\nepochs = 0\n')
    expected = f"error: {bad}: train.epochs: Input should be greater than or equal to 1"
    assert train("--config", str(bad)) == (2, expected)
    code, output = train("--config", str(CONFIGS / "watermark.toml"))
    assert code == 2 and "for learner 'watermark', not 'collage'" in output
    code, output = train(learner="nonsense", )
    assert code == 2 and "does not exist" in output
    code, output = train("--config", str(CONFIGS / "collage_tiny.toml"), "--data",
                         str(tmp_path))
    assert code == 2 and "not a dataset folder" in output
    if not torch.cuda.is_available():
        code, output = train("--config", str(CONFIGS / "collage_tiny.toml"), "--device", "cuda")
        assert code == 2 and "no CUDA device" in output
    code, output = train("--config", str(CONFIGS / "watermark.toml"), learner="watermark")
    assert code == 2 and "no watermark labels in its train split" in output
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
def test_the_same_run_trains_across_two_processes_with_torchrun(demo_dataset: Path,
                                                                tmp_path: Path) -> None:
    """DistributedDataParallel over gloo on CPU, started the way the README says (~20 s)."""
    import subprocess
    import sys

    torchrun = Path(sys.executable).with_name("torchrun")
    completed = subprocess.run(
        [str(torchrun), "--nproc_per_node=2", "-m", "training", "train", "collage",
         "--data", str(demo_dataset), "--config", str(CONFIGS / "collage_tiny.toml"),
         "--out", str(tmp_path / "run"), "--version", "0.0.2",
         "--registry-root", str(tmp_path / "models")],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1], check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["history"][0]["epoch"] == 1 and run["results"]["candidate"]["test"]["n"] > 0
    trained = torch.load(tmp_path / "run" / "model" / "collage.pt", weights_only=True)
    start = torch.load(SHIPPED_ROOT / "collage" / SHIPPED_COLLAGE / "collage.pt", weights_only=True)
    assert any(not torch.equal(trained[key], start[key]) for key in start)
    assert completed.stderr.count("test split of") == 1  # rank 0 alone reports


def test_the_export_stops_at_a_stored_photo_that_still_has_metadata(tmp_path: Path) -> None:
    from datasets.export import MetadataFound, StaffLabelExporter, _LabelledPhoto
    from moderation.storage.images import ImageStore
    from tests import photos

    store = ImageStore(tmp_path / "images")
    clean = store.put(photos.jpeg(photos.scene(seed=1)), "JPEG")
    leaky = store.put(photos.jpeg(photos.scene(seed=2), exif=photos.exif_with(
        artist="Jane Doe", gps=True)), "JPEG")
    exporter = StaffLabelExporter(sessions=None, images=store)  # type: ignore[arg-type]

    def row(sha256: str) -> _LabelledPhoto:
        return _LabelledPhoto(1, "collage", True, "confirm", 0.9, {}, "c-1", "m-1",
                              "rhinoplasty", sha256, "JPEG")

    assert exporter._verified_photo(row(clean)).is_file()
    with pytest.raises(MetadataFound) as refused:
        exporter._verified_photo(row(leaky))
    assert "Jane" not in str(refused.value) and leaky[:12] in str(refused.value)


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["watermark", "procedure"])
def test_the_watermark_and_region_learners_train_export_and_serve(learner: str,
                                                                  tmp_path: Path) -> None:
    """One short epoch each on generated watermark photos (the procedure learner reads them
    as procedure_match labels on the face and nose): exported files that the service's own
    loaders score, a threshold, a report (~30 s each)."""
    from datasets.staff_dataset import DatasetWriter, LabelledItem
    from models.registry import ModelVersion
    from training.learners import learner_for

    source = StaffDataset(write_demo(tmp_path / "exports", count=24, members=6, seed=4,
                                     check="watermark"))
    data = source.directory
    if learner == "procedure":
        items = [LabelledItem(**{**i.__dict__, "check": "procedure_match",
                                 "regions": ("face", "nose")}) for i in source.items]
        data = DatasetWriter(tmp_path / "procedure", {"val": 0.2, "test": 0.2}, 0, "test").write(
            items, {i.photo: source.path(i) for i in source.items})
    config = tmp_path / "tiny.toml"
    config.write_text(f'learner = "{learner}"\n[train]\ninit = "scratch"\nepochs = 1\n'
                      'batch_size = 8\n[options]\nimage_size = 96\nlong_side = 320\nwidth = 0.25\n')
    result = runner.invoke(training_cli, [
        "train", learner, "--data", str(data), "--config", str(config), "--out",
        str(tmp_path / "run"), "--registry-root", str(tmp_path / "models")])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    candidate = ModelVersion.read(tmp_path / "run" / "model")
    candidate.verify()
    assert candidate.thresholds["score"] == run["thresholds"]["score"]
    shipped = ModelRegistry([SHIPPED_ROOT]).promoted(learner_for(learner, {}).model_name)
    assert run["results"]["promoted"]["model"]["version"] == shipped.version
    dataset = StaffDataset(data)
    check = learner_for(learner, run["config"]["options"]).check
    scores = learner_for(learner, run["config"]["options"]).scores_of(
        candidate, dataset, dataset.split(check, "test"))
    assert ((scores >= 0) & (scores <= 1)).all() and len(scores) > 0
    assert (tmp_path / "run" / "report" / "worst_errors.png").is_file()


@pytest.mark.slow
def test_promoting_a_run_later_measures_the_version_served_by_then(demo_dataset: Path,
                                                                   tmp_path: Path) -> None:
    models = str(tmp_path / "models")
    for version in ("5.0.0", "5.0.1"):
        result = runner.invoke(training_cli, [
            "train", "collage", "--data", str(demo_dataset), "--config",
            str(CONFIGS / "collage_tiny.toml"), "--out", str(tmp_path / version), "--version",
            version, "--registry-root", models])
        assert result.exit_code == 0, result.output
    first = runner.invoke(training_cli, ["promote", str(tmp_path / "5.0.0"), "--registry-root",
                                         models])
    assert first.exit_code == 0 and "promoted collage 5.0.0" in first.output
    second = runner.invoke(training_cli, ["promote", str(tmp_path / "5.0.1"),
                                          "--registry-root", models])
    assert second.exit_code == 0, second.output
    rerun = json.loads((tmp_path / "5.0.1" / "run.json").read_text())
    assert rerun["results"]["promoted"]["model"]["version"] == "5.0.0"  # measured again
    history = runner.invoke(training_cli, ["history", "collage", "--registry-root", models])
    assert f"{SHIPPED_COLLAGE} -> 5.0.0" in history.output and "5.0.0 -> 5.0.1" in history.output
    assert "served: 5.0.1" in history.output


def test_export_reads_labels_from_either_database(database_url: str, tmp_path: Path) -> None:
    from sqlalchemy import select

    from datasets.export import StaffLabelExporter
    from moderation.review.actions import ReviewActions
    from moderation.review.audit import Actor
    from moderation.review.schemas import LabelAction, LabelRequest, Role
    from moderation.settings import Settings
    from moderation.storage.tables import FindingRow, SubmissionRow
    from tests.review_data import PHI_NOTES, finding, open_repository, review_pipeline, seed_case

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    repository = open_repository(database_url, settings.image_dir)
    pipeline = review_pipeline(settings)
    for index in range(6):
        seed_case(repository, pipeline, case_id=f"c-{index}", member_id=f"m-{index % 3}",
                  description=PHI_NOTES, seed=100 + index, extra=[
                      finding("collage", "photo:set1/after", 0.9, "collage: panels"),
                      finding("collage", "photo:set1/before", 0.1, "collage: single")])
    actions = ReviewActions(repository.sessions, [])
    reviewer = Actor(id=None, name="test", role=Role.REVIEWER)
    with repository.sessions() as session:
        collage = session.execute(
            select(FindingRow.id, FindingRow.target, SubmissionRow.case_id)
            .join(SubmissionRow, SubmissionRow.id == FindingRow.submission_id)
            .where(FindingRow.check == "collage").order_by(FindingRow.id)).all()
    for finding_id, target, case_id in collage:  # the model is wrong on "after" of even cases
        wrong = target.endswith("after") and int(case_id[2:]) % 2 == 0
        actions.label(reviewer, finding_id, LabelRequest(
            action=LabelAction.OVERRIDE if wrong else LabelAction.CONFIRM))
    directory = StaffLabelExporter(repository.sessions, repository.images).export(
        tmp_path / "exports", seed=0)
    repository.sessions.kw["bind"].dispose()
    dataset = StaffDataset(directory)
    assert len(dataset.items) == 12 and {i.check for i in dataset.items} == {"collage"}
    assert sum(i.label for i in dataset.items) == 3  # 6 "after" findings, 3 overridden
    assert {i.action for i in dataset.items} == {"confirm", "override"}
    assert all(i.regions and i.procedure == "rhinoplasty" for i in dataset.items)
    assert "Jane" not in (directory / "manifest.jsonl").read_text()
    splits: dict[str, set[str]] = {}
    for item in dataset.items:
        splits.setdefault(item.member_id, set()).add(item.split)
    assert all(len(found) == 1 for found in splits.values())


def test_the_watermark_config_starts_from_1_2_s_pixels_network_from_any_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The promoted watermark 2.0 is a head on the OCR's features, no MarkNet: the shipped
    config names 1.2's weights, found wherever the command runs; 2.0 itself is refused."""
    from training.cli import CONFIG_DIR
    from training.config import load_config
    from training.learners import learner_for
    from training.run import RunError, weights_file

    config = load_config(CONFIG_DIR / "watermark.toml")
    monkeypatch.chdir(tmp_path)
    learner = learner_for("watermark", config.options)
    network = learner.network(weights_file(config.train.init))
    assert sum(p.numel() for p in network.parameters()) > 0
    with pytest.raises(RunError, match="no such weights file"):
        weights_file("models/weights/watermark/1.2/nothing.pt")
    head = ModelRegistry([SHIPPED_ROOT]).get("watermark", "2.0")
    with pytest.raises(ValueError, match="head on the OCR's features"):
        learner.network(head)


@pytest.mark.parametrize("version", [LARGE_WATERMARK, "1.6"])
def test_the_watermark_learner_starts_from_a_registered_network_of_any_backbone(
        version: str, large_watermark_registry: Path) -> None:
    """A MobileNetV3-Large at 640 px (the fixture's) and 1.6, the OCR backbone at 512: the
    learner builds the network the version's own config describes, whatever the learner's
    options say, starts from its weights exactly, trains at the version's side and registers
    what it built, so the next run can start from that version in turn."""
    from models.watermark import TORCHSCRIPT_FILE
    from training.learners import learner_for

    served = ModelRegistry([large_watermark_registry, SHIPPED_ROOT]).get("watermark", version)
    learner = learner_for("watermark", {"width": 0.5, "long_side": 448})
    network = learner.network(served).eval()
    scripted = torch.jit.load(str(served.path(TORCHSCRIPT_FILE)), map_location="cpu").eval()
    image = torch.rand(1, 3, 96, 128) * 255
    with torch.inference_mode():
        assert torch.allclose(network(image), scripted(image), atol=1e-4)
    expected = {LARGE_WATERMARK: ("large", 1.0, 640), "1.6": ("ppocr", 0.5, 512)}[version]
    registered = learner.served_config()
    assert (registered["arch"], registered["width"], registered["long_side"]) == expected
    assert learner.long_side == expected[2]


def test_a_registered_network_with_nothing_frozen_is_rebuilt_with_nothing_frozen(
        tmp_path: Path) -> None:
    """freeze_to 0 (every layer of the OCR backbone learnt) is a value, not a missing one: the
    learner keeps it, so retraining such a version does not freeze its first layers again."""
    import dataclasses
    import shutil

    from models.registry import ModelVersion
    from training.learners import learner_for

    served = ModelRegistry([SHIPPED_ROOT]).get("watermark", "1.8")
    copy = tmp_path / "1.8"
    shutil.copytree(served.directory, copy)
    tuned = dataclasses.replace(ModelVersion.read(copy), directory=copy,
                                config={**served.config, "freeze_to": 0})
    learner = learner_for("watermark", {"freeze_to": 8})
    network = learner.network(tuned)
    assert network.freeze_to == 0 and learner.served_config()["freeze_to"] == 0
    assert all(p.requires_grad for p in network.shallow[0].parameters())


def test_the_watermark_head_learner_starts_from_the_served_head_exactly(tmp_path: Path) -> None:
    """The registry keeps only a 2.x head's ONNX file: the learner rebuilds the head from it
    (batch norms folded) and scores a photo's real OCR features as the served file does; a
    smaller photo padded into a batch keeps its own score; "scratch" is refused."""
    from models.ocr import OcrOptions, cached_engine
    from models.watermark import HEAD_ONNX_FILE, load_detector
    from training.learners import learner_for

    served = ModelRegistry([SHIPPED_ROOT]).promoted("watermark")
    learner = learner_for("watermark_head", {})
    head = learner.network(served).eval()
    engine = cached_engine(OcrOptions(features=True, det_max_side=512))
    photo = np.asarray(photos_for_head()[0])
    features = engine.detect_with_features(photo)[2]
    expected = load_detector(served).predict_features(features).probabilities
    with torch.inference_mode():
        own = torch.sigmoid(head(torch.from_numpy(features.values[None])))[0, 0].numpy()
    assert np.abs(own - expected).max() < 1e-4

    small, large = (engine.detect_with_features(np.asarray(p))[2] for p in photos_for_head())
    assert small.values.shape != large.values.shape
    batch = {"x": torch.zeros(2, *large.values.shape), "label": torch.tensor([0, 1])}
    batch["x"][0, :, : small.values.shape[1], : small.values.shape[2]] = torch.from_numpy(
        small.values)
    batch["x"][1] = torch.from_numpy(large.values)
    batch["valid"] = torch.zeros(2, 1, *large.values.shape[1:], dtype=torch.bool)
    batch["valid"][0, :, : small.values.shape[1], : small.values.shape[2]] = True
    batch["valid"][1] = True
    with torch.inference_mode():
        padded = learner.logits(head, batch)
        alone = head(torch.from_numpy(small.values[None])).amax()
    assert abs(float(padded[0]) - float(alone)) < 1e-4
    with pytest.raises(ValueError, match="not \"scratch\""):
        learner.network(None)
    assert HEAD_ONNX_FILE in served.files


def photos_for_head() -> list:
    from PIL import Image

    from datasets import sample_photos
    portrait = Image.fromarray(sample_photos.load("grace_hopper"))
    return [portrait.resize((640, 320)), portrait.resize((600, 600))]  # 16 x 32, 32 x 32 cells


@pytest.mark.slow
def test_the_watermark_head_learner_fine_tunes_exports_and_serves(tmp_path: Path) -> None:
    """One short epoch on generated watermark photos through the real OCR pass: a candidate
    that the service's loader serves as a head on the OCR's features, measured against the
    promoted head on the same test split."""
    from models.registry import ModelVersion
    from models.watermark import load_detector
    from training.learners import learner_for

    source = StaffDataset(write_demo(tmp_path / "exports", count=24, members=6, seed=4,
                                     check="watermark"))
    config = tmp_path / "tiny.toml"
    config.write_text('learner = "watermark_head"\n[train]\ninit = "promoted"\nepochs = 1\n'
                      "batch_size = 8\n")
    result = runner.invoke(training_cli, [
        "train", "watermark_head", "--data", str(source.directory), "--config", str(config),
        "--out", str(tmp_path / "run"), "--registry-root", str(tmp_path / "models")])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    candidate = ModelVersion.read(tmp_path / "run" / "model")
    candidate.verify()
    assert load_detector(candidate).uses_text_features
    assert candidate.config["ocr_det_max_side"] == 512
    served = ModelRegistry([SHIPPED_ROOT]).promoted("watermark")
    assert run["results"]["promoted"]["model"]["version"] == served.version
    scores = learner_for("watermark_head", {}).scores_of(
        candidate, source, source.split("watermark", "test"))
    assert ((scores >= 0) & (scores <= 1)).all() and len(scores) > 0
