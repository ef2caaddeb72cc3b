"""Watermark 2.x: a small head on the OCR text detector's features. The training command run
end to end on a few real samples (features from the real PP-OCRv4 detector), the registered
version served through the `watermark` check with the OCR's one pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from datasets import sample_photos
from datasets.watermarks import WatermarkSynth
from models.checks.watermark import WatermarkCheck
from models.ocr import OcrEngine, OcrOptions, read_text, text_features
from models.registry import ModelRegistry
from models.text_features import CHANNELS, GROUPS, channels_of
from models.watermark import (
    FeatureHead,
    FeatureWatermarkDetector,
    HeadEnsemble,
    MarkMap,
    WatermarkDetector,
    load_detector,
)
from moderation.checks.base import CheckContext
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy
from tests.conftest import LARGE_WATERMARK
from tests.test_watermark import photo_of, portrait
from training import train_watermark, train_watermark_head


def test_feature_groups_name_their_channels() -> None:
    assert len(channels_of(list(GROUPS))) == CHANNELS
    assert channels_of(["text_prob"]) == [CHANNELS - 2, CHANNELS - 1]
    with pytest.raises(ValueError, match="unknown feature groups"):
        channels_of(["pixels"])


def test_the_head_reads_only_its_channels() -> None:
    torch.manual_seed(0)
    head = FeatureHead(channels_of(["neck16", "text_prob"]), width=8).eval()
    features = torch.randn(1, CHANNELS, 6, 5)
    changed = features.clone()
    changed[:, :GROUPS["backbone16"]] += 100.0  # a group it does not read
    with torch.inference_mode():
        assert head(features).shape == (1, 1, 6, 5)
        assert torch.equal(head(features), head(changed))


@pytest.mark.parametrize("script", [train_watermark_head, train_watermark])
def test_an_unknown_photo_set_is_refused_by_name(script, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        script.parse_args(["--out", "unused", "--photo-set", "9"])
    assert exited.value.code == 2 and "--photo-set is 1 to" in capsys.readouterr().err


def test_a_teacher_weight_that_could_turn_a_label_over_is_refused(
        capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        train_watermark_head.parse_args(["--out", "unused", "--teacher", "1.2",
                                         "--teacher-weight", "0.6"])
    assert exited.value.code == 2 and "--teacher-weight must be within 0..0.5" in \
        capsys.readouterr().err


@pytest.mark.parametrize("share", ["-0.1", "1.5", "most"])
@pytest.mark.parametrize("option", ["--derived-backgrounds", "--scene-text-rate"])
def test_a_share_outside_zero_to_one_is_refused(
        option: str, share: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        train_watermark_head.parse_args(["--out", "unused", option, share])
    error = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument {option}: a share is" in error and "0..1" in error


def test_scene_text_reaches_the_training_features_and_the_card_only() -> None:
    """Real sample, real OCR features: the same sample with the scene's text drawn in."""
    job = ("train", 2, 5, 1, (480, 560), 512, "", "", 0.3, 0.0)
    plain, plain_targets, plain_meta = train_watermark_head._build(job)
    with_text, targets, meta = train_watermark_head._build(job + (1.0,))
    assert meta["negatives"] == plain_meta["negatives"] + ["scene_text"]
    assert np.array_equal(targets, plain_targets)  # labels untouched
    assert not np.array_equal(with_text, plain)
    args = train_watermark_head.parse_args(["--out", "unused", "--scene-text-rate", "0.3"])
    assert "30% of the training samples also show a name badge" in \
        train_watermark_head.derived_note(args)


@pytest.mark.parametrize("teacher", ["2.2", "9.9"])
def test_a_teacher_that_is_no_registered_pixel_network_is_refused(
        teacher: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        train_watermark_head.parse_args(["--out", "unused", "--teacher", teacher])
    assert exited.value.code == 2 and f"--teacher {teacher}: not a registered pixel-network" in \
        capsys.readouterr().err


def test_a_teacher_blends_its_cells_into_the_training_targets_only() -> None:
    """Real sample, real OCR features, the registered 1.2 pixel network as the teacher."""
    job = ("train", 2, 5, 3, (480, 560), 512, "", "", 0.3, 0.0)
    features, plain, _ = train_watermark_head._build(job)
    taught_features, taught, _ = train_watermark_head._build(job[:7] + ("1.2", 0.3, 0.0))
    assert np.array_equal(features, taught_features) and taught.shape == plain.shape
    teacher = train_watermark_head._registered("1.2")
    sample = WatermarkSynth(sample_photos.split("train", 2), 5, long_side=(480, 560)).sample(3)
    size = (plain.shape[1] * 16, plain.shape[0] * 16)
    cells = train_watermark_head.teacher_cells(teacher, sample.image, size)
    assert cells.shape == plain.shape and 0.0 <= cells.min() <= cells.max() <= 1.0
    expected = 0.7 * plain.astype(np.float32) + 0.3 * cells
    assert np.abs(taught.astype(np.float32) - expected).max() < 2e-3
    assert not np.array_equal(taught, plain)
    _, held_out, _ = train_watermark_head._build(("val",) + job[1:7] + ("1.2", 0.3, 0.0))
    _, held_out_plain, _ = train_watermark_head._build(("val",) + job[1:])
    assert np.array_equal(held_out, held_out_plain)  # validation keeps its own labels


def _random_pool(count: int, seed: int) -> list:
    """Feature maps, cell targets and labels of the pool's shape; random, not OCR features
    (what is checked is how members are seeded and joined, not what they learn)."""
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(count):
        targets = np.zeros((4, 5), np.float16)
        if i % 2:
            targets[1:3, 2:4] = 1.0
        pool.append((rng.normal(0, 1, (CHANNELS, 4, 5)).astype(np.float16), targets,
                     {"label": int(i % 2)}))
    return pool


def test_ensemble_members_start_apart_and_member_0_is_the_single_head() -> None:
    train_pool, val_pool = _random_pool(16, 0), _random_pool(8, 1)
    common = ["--out", "unused", "--epochs", "1", "--width", "4", "--batch-size", "8"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `main` sets --threads, and each member's worker does
    try:
        single, _ = train_watermark_head.train(
            train_watermark_head.parse_args(common), train_pool, val_pool)
    finally:
        torch.set_num_threads(threads)
    args = train_watermark_head.parse_args(common + ["--members", "2", "--workers", "2"])
    ensemble, history = train_watermark_head.train(args, train_pool, val_pool)
    assert isinstance(ensemble, HeadEnsemble) and len(ensemble.heads) == 2
    first, second = (head.state_dict() for head in ensemble.heads)
    assert all(torch.equal(first[k], v) for k, v in single.state_dict().items())
    assert not torch.equal(first["body.1.weight"], second["body.1.weight"])
    features = torch.from_numpy(val_pool[0][0].astype(np.float32))[None]
    with torch.inference_mode():
        mean = (ensemble.heads[0](features) + ensemble.heads[1](features)) / 2
        assert torch.allclose(ensemble(features), mean)
    assert [r["member"] for r in history[:-1]] == [0, 1] and history[-1]["members"] == 2


def _head_with_weights(value: float) -> FeatureHead:
    head = FeatureHead(channels_of(list(GROUPS)), width=4)
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.fill_(value)
    return head


def test_keep_best_ships_the_epoch_with_the_best_validation_auroc() -> None:
    kept = train_watermark_head.KeptWeights("best", epochs=3)
    for epoch, auroc in enumerate((0.70, 0.90, 0.90), start=1):  # a tie keeps the earlier
        kept.see(_head_with_weights(float(epoch)), {"epoch": epoch, "val_auroc": auroc})
    head = _head_with_weights(3.0)
    kept.restore(head, [], batch_size=8)
    assert all(torch.all(p == 2.0) for p in head.parameters())
    assert kept.describe() == "epoch 2 (best validation AUROC 0.9)"


def test_keep_average_means_the_second_half_and_refits_batch_norm() -> None:
    kept = train_watermark_head.KeptWeights("average", epochs=4)
    for epoch in range(1, 5):  # epochs 3 and 4 are averaged
        kept.see(_head_with_weights(float(epoch)), {"epoch": epoch, "val_auroc": 0.5})
    pool = _random_pool(6, 0)
    head = _head_with_weights(4.0)
    kept.restore(head, pool, batch_size=len(pool))
    assert all(torch.allclose(p, torch.full_like(p, 3.5)) for p in head.parameters())
    assert kept.describe() == "mean of epochs 3-4"
    # Statistics of the averaged weights' own activations, not the mean of two epochs': one
    # batch of the whole pool, so the first norm's running mean is its input's mean exactly.
    features, _, _ = train_watermark_head.padded_batch(pool)
    with torch.no_grad():
        chosen = features.index_select(1, head.channels)
        first_conv = head.body[1]((chosen - head.mean) / head.std)
    norm = head.body[2]
    assert torch.allclose(norm.running_mean, first_conv.mean(dim=(0, 2, 3)), atol=1e-4)
    assert not norm.training and norm.momentum == 0.1


def test_keep_last_leaves_the_trained_weights_and_names_them() -> None:
    kept = train_watermark_head.KeptWeights("last", epochs=2)
    for epoch, auroc in ((1, 0.9), (2, 0.8)):  # the last, though not the best
        kept.see(_head_with_weights(float(epoch)), {"epoch": epoch, "val_auroc": auroc})
    head = _head_with_weights(2.0)
    kept.restore(head, [], batch_size=8)
    assert all(torch.all(p == 2.0) for p in head.parameters())
    assert kept.describe() == "epoch 2 (the last)"


def test_an_unknown_keep_is_refused_by_name(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        train_watermark_head.parse_args(["--out", "unused", "--keep", "first"])
    assert exited.value.code == 2 and "argument --keep: invalid choice" in capsys.readouterr().err


def test_the_retraining_learner_rebuilds_an_exported_ensemble_exactly(tmp_path: Path) -> None:
    """The registry keeps only the ONNX file: the staff-label learner must read an ensemble's
    members back from it (batch norms folded) and score as the file does."""
    from training.learners import FusedFeatureHead

    torch.manual_seed(0)
    heads = [FeatureHead(channels_of(list(GROUPS)), width=8) for _ in range(3)]
    for head in heads:  # batch-norm statistics as after training, so folding matters
        for norm in (m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2.0)
    ensemble = HeadEnsemble(heads).eval()
    train_watermark_head.export(ensemble, tmp_path, runs=1)
    rebuilt = FusedFeatureHead.from_onnx(tmp_path / "watermark-head.onnx")
    assert isinstance(rebuilt, HeadEnsemble) and len(rebuilt.heads) == 3
    features = torch.randn(1, CHANNELS, 7, 9)
    with torch.inference_mode():
        assert torch.allclose(rebuilt(features), ensemble(features), atol=1e-5)


def test_the_export_times_both_cpu_backends_on_the_same_weights(tmp_path: Path) -> None:
    head = FeatureHead(channels_of(list(GROUPS)), width=8).eval()
    timings = train_watermark_head.export(head, tmp_path, runs=2)
    assert timings["onnxruntime_median_ms"] > 0 and timings["torchscript_median_ms"] > 0
    assert timings["onnx_max_abs_diff"] < 1e-4 and timings["torchscript_max_abs_diff"] < 1e-5


def test_the_backend_bench_times_registered_heads_and_names_unknown_ones(capsys) -> None:  # type: ignore[no-untyped-def]
    from bench import watermark_head_backends

    assert watermark_head_backends.main(["--versions", "2.2", "--runs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2.2" in printed and "TorchScript" in printed and "shipped: the ONNX file" in printed
    with pytest.raises(SystemExit, match="not a registered watermark head: 9.9"):
        watermark_head_backends.main(["--versions", "9.9"])


def test_an_ensemble_of_no_members_is_refused(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        train_watermark_head.parse_args(["--out", "unused", "--members", "0"])
    assert exited.value.code == 2 and "--members must be at least 1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The training command, small: real samples, real OCR features, 2 epochs."""
    out, root = tmp_path_factory.mktemp("run"), tmp_path_factory.mktemp("registry")
    code = train_watermark_head.main([
        "--out", str(out), "--train-samples", "24", "--val-samples", "12",
        "--test-samples", "12", "--epochs", "2", "--workers", "1", "--width", "8",
        "--baseline", "", "--render-side", "480,560", "--register", str(root),
        "--version", "2.test", "--promote", "--photo-set", "2", "--keep", "best"])
    assert code == 0
    return out, root


def test_the_training_command_registers_a_feature_head_with_its_card(trained) -> None:
    out, root = trained
    model = ModelRegistry([root]).promoted("watermark")
    assert model.version == "2.test" and model.config["input"] == "ocr-text-features"
    assert 0 < model.thresholds["score"] < 1 and "test_auroc" in model.metrics
    card = (model.directory / "card.md").read_text()
    for needed in ("## Data", "## Command", "## Metrics", "## Licenses", "Apache-2.0",
                   "python -m training.train_watermark_head", "grace_hopper",
                   "mate_ladybird", "training photos of set 2"):
        assert needed in card
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"threshold", "val", "test", "test_breakdown", "samples_sha256"}
    assert model.metrics["onnx_max_abs_diff"] < 1e-3
    assert model.metrics["torchscript_median_ms"] > 0  # both CPU backends measured, ONNX shipped
    assert "TorchScript (traced, frozen)" in card and "Shipped: the ONNX file" in card
    digests = results["samples_sha256"]
    assert len(set(digests.values())) == 3 and all(len(d) == 64 for d in digests.values())
    assert all(f"`{digest}`" in card for digest in digests.values())
    assert digests["train"][:16] in model.data_version and "torch " in card
    assert len(results["kept"]) == 1 and results["kept"][0].startswith("epoch ")
    assert f"(`--keep best`): {results['kept'][0]}." in card


def test_the_command_run_again_builds_the_same_samples_and_the_same_head(
        trained, tmp_path: Path) -> None:
    """Reproducible by its command: the same samples (digests) and, on one machine and thread
    count, the same weights."""
    first, _ = trained
    again = tmp_path / "again"
    assert train_watermark_head.main([
        "--out", str(again), "--train-samples", "24", "--val-samples", "12",
        "--test-samples", "12", "--epochs", "2", "--workers", "1", "--width", "8",
        "--baseline", "", "--render-side", "480,560", "--photo-set", "2",
        "--keep", "best"]) == 0
    digests = [json.loads((run / "results.json").read_text())["samples_sha256"]
               for run in (first, again)]
    assert digests[0] == digests[1]
    heads = [torch.load(run / "head.pt") for run in (first, again)]
    assert all(torch.equal(heads[0][key], heads[1][key]) for key in heads[0])


def test_the_samples_digest_names_the_samples_and_their_order() -> None:
    pool = [(np.full((4, 2, 2), i, np.float16), np.zeros((2, 2), np.float16), {"label": 0})
            for i in range(3)]
    digest = train_watermark_head.pool_digest(pool)
    assert digest == train_watermark_head.pool_digest([tuple(s) for s in pool])
    assert digest != train_watermark_head.pool_digest(pool[::-1])
    changed = [(pool[0][0], pool[0][1] + np.float16(0.5), pool[0][2])] + pool[1:]
    assert digest != train_watermark_head.pool_digest(changed)  # a target alone counts


def test_the_registered_head_scores_the_ocr_features_in_photo_pixels(trained) -> None:
    _, root = trained
    detector = load_detector(ModelRegistry([root]).promoted("watermark"))
    assert isinstance(detector, FeatureWatermarkDetector) and detector.uses_text_features
    engine = OcrEngine(OcrOptions(features=True))
    image = np.asarray(portrait((1200, 1400)))  # the detector sees 448 x 512
    _, features = engine.read_with_features(image)
    mark_map = detector.predict_features(features)
    assert mark_map.probabilities.shape == (32, 28)
    assert mark_map.cell == pytest.approx(16 * 1200 / 448)
    assert mark_map.cell_height == pytest.approx(16 * 1400 / 512)  # each side rounded on its own
    assert 0.0 <= mark_map.score <= 1.0


def test_mark_boxes_scale_each_axis_by_its_own_cell() -> None:
    probabilities = np.zeros((32, 28), dtype=np.float32)
    probabilities[31, 27] = 0.9  # the bottom-right cell of a 1200 x 1400 photo seen at 448 x 512
    box, = MarkMap(probabilities, cell=16 * 1200 / 448, cell_height=16 * 1400 / 512).boxes(0.5)
    assert (box.x + box.w, box.y + box.h) == (1200, 1400)
    square, = MarkMap(probabilities, cell=16 * 1200 / 448).boxes(0.5)  # one scale for both
    assert square.y + square.h < 1400 - 20


def test_a_pixel_version_still_loads_as_before(large_watermark_registry: Path) -> None:
    registry = ModelRegistry([large_watermark_registry, Path("models/weights")])
    assert isinstance(load_detector(registry.get("watermark", "1.2")), WatermarkDetector)
    large = load_detector(registry.get("watermark", LARGE_WATERMARK))  # MobileNetV3-Large
    assert isinstance(large, WatermarkDetector) and large.long_side == 640
    assert large.predict(np.zeros((480, 640, 3), np.uint8)).probabilities.shape == (30, 40)


def test_a_feature_head_needs_the_ocr_features(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models={"ocr": {"features": False}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    check_settings = settings.check("watermark").model_copy(
        update={"options": {"detector": {"version": "2.0"}}})
    with pytest.raises(ValueError, match="features = true"):
        WatermarkCheck(check_settings, context)


def test_the_check_scores_the_features_of_the_photo_s_one_ocr_pass(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    head_alone = {**settings.check("watermark").options, "also_version": ""}
    check = WatermarkCheck(settings.check("watermark").model_copy(
        update={"options": head_alone}), context)
    assert check.detector.uses_text_features and check.feature_ocr is check.ocr
    photo = photo_of(portrait())
    observation = check.observe(photo)
    features = text_features(photo, check.ocr)
    assert features is not None and read_text(photo, check.ocr) is read_text(photo, check.ocr)
    expected = check.calibrated(check.detector.predict_features(features).score)
    assert observation.evidence.values["model_score"] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("combine", "weight"), [("max", 0.67), ("mean", 0.5), ("mean", 0.67)])
def test_a_second_version_joins_as_combine_says(tmp_path: Path, combine: str,
                                                weight: float) -> None:
    settings = Settings(data_dir=tmp_path)
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    options = {**settings.check("watermark").options, "also_version": "1.2", "combine": combine,
               "also_weight": weight}
    check = WatermarkCheck(settings.check("watermark").model_copy(update={"options": options}),
                           context)
    served = check.detector.ref.version  # the promoted head
    assert served.startswith("2.") and [d.ref.version for d in check.detectors] == [served, "1.2"]
    photo = photo_of(portrait())
    observation = check.observe(photo)
    head = check.calibrated(check.mark_map(photo).score)
    pixels = check.calibrated(check.mark_map(photo, check.second).score, check.second)
    assert head != pytest.approx(pixels, abs=0.05)  # else max and mean could not be told apart
    joined = max(head, pixels) if combine == "max" else (1 - weight) * head + weight * pixels
    assert observation.evidence.values["model_score"] == pytest.approx(joined, abs=1e-4)
    assert observation.evidence.values["also_model_probability"] is not None
    # the model whose score counted is named (the response lists it among the models used)
    counted = combine == "mean" or pixels > head
    assert observation.model == (check.second.ref if counted else None)
    low, high = (MarkMap(np.full((3, 4), p, np.float32), cell=16.0) for p in (0.05, 0.99))
    both = [(check.detector, high), (check.second, low)]
    assert check.deciding_model(both) == (check.second.ref if combine == "mean" else None)
    assert check.deciding_model([(check.detector, low), (check.second, high)]) == check.second.ref
    assert check.deciding_model([(check.detector, high)]) is None
    if combine == "mean":  # a weight of 0 leaves the second detector out of the score
        check.options.also_weight = 0.0
        assert check.join_scores([0.3, 0.9]) == pytest.approx(0.3)
        assert check.deciding_model(both) is None


def test_the_int8_text_detector_cannot_feed_the_head(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models={"ocr": {"det_model": "int8", "features": True}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    with pytest.raises(ValueError, match="fused"):
        WatermarkCheck(settings.check("watermark"), context)


def test_a_feature_head_refuses_features_at_another_detector_size(tmp_path: Path) -> None:
    """2.0 learnt the features of a 512-px detector input: another `det_max_side` would feed
    it features at another scale, silently. The check names the fix instead."""
    assert ModelRegistry([Path("models/weights")]).get("watermark", "2.0").config[
        "ocr_det_max_side"] == Settings(data_dir=tmp_path).models["ocr"]["det_max_side"]
    settings = Settings(data_dir=tmp_path, models={"ocr": {"det_max_side": 640}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    with pytest.raises(ValueError, match="det_max_side = 512, not 640"):
        WatermarkCheck(settings.check("watermark"), context)
    pixels_only = settings.check("watermark").model_copy(
        update={"options": {"detector": {"version": "1.2"}}})
    assert not WatermarkCheck(pixels_only, context).detector.uses_text_features


def test_two_versions_can_be_averaged_instead(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    options = {**settings.check("watermark").options, "also_version": "1.2", "combine": "mean",
               "also_weight": 0.5}
    check = WatermarkCheck(settings.check("watermark").model_copy(update={"options": options}),
                           context)
    photo = photo_of(portrait())
    observation = check.observe(photo)
    head = check.calibrated(check.mark_map(photo).score)
    pixels = check.calibrated(check.mark_map(photo, check.second).score, check.second)
    assert observation.evidence.values["model_score"] == pytest.approx((head + pixels) / 2,
                                                                       abs=1e-4)
    assert observation.model == check.second.ref  # both count, so both are named


@pytest.mark.parametrize(("options", "message"), [
    ({"also_version": "1.2", "use_model": False}, "needs use_model = true"),
    ({"combine": "min"}, "combine"),
    ({"also_weight": 1.5}, "also_weight"),
])
def test_watermark_options_that_cannot_work_are_refused(tmp_path: Path, options: dict,
                                                        message: str) -> None:
    settings = Settings(data_dir=tmp_path)
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    merged = {**settings.check("watermark").options, **options}
    with pytest.raises(ValidationError, match=message):
        WatermarkCheck(settings.check("watermark").model_copy(update={"options": merged}),
                       context)
