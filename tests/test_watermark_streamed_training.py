"""The watermark trainer's streamed mode (what a GPU run uses) and registering a finished run
on another machine: real sample building, real training steps on CPU, real export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.registry import ModelRegistry
from models.watermark import DetectorOptions, MarkNet, WatermarkDetector
from training import train_watermark
from training.train_watermark import StreamedCrops, random_crop, random_crops


def test_a_streamed_item_is_a_function_of_seed_and_index() -> None:
    crops = StreamedCrops("train", 5, 100, 192, 96, 3, augment=True)
    images, targets = crops[7]
    again, _ = crops[7]
    other, _ = crops[8]
    assert images.shape == (3, 3, 96, 96) and images.dtype == torch.uint8
    assert targets.shape == (3, 1, 6, 6)
    assert float(targets.min()) >= 0.0 and float(targets.max()) <= 1.0
    assert torch.equal(images, again)
    assert not torch.equal(images, other)


def test_a_later_photo_set_draws_its_new_scenes_too() -> None:
    first, second = ([StreamedCrops("train", 5, 100, 192, 96, 1, augment=False,
                                    photo_set=photo_set) for photo_set in (1, 2)])
    backgrounds = {photo_set: {train_watermark._build(("train", 5, i, 192, photo_set))[2][
        "background"] for i in range(12)} for photo_set in (1, 2)}
    assert not any(name.startswith("mate_") for name in backgrounds[1])
    assert any(name.startswith("mate_") for name in backgrounds[2])
    assert not torch.equal(first[0][0], second[0][0])  # another scene, another sample


def test_batched_crops_are_the_per_sample_crops_stacked() -> None:
    pool = [train_watermark._build(("train", 5, index, 192, 1)) for index in range(3)]
    images, targets = random_crops(pool, 96, np.random.default_rng(1))
    rng = np.random.default_rng(1)
    one_by_one = [random_crop(image, mask, meta["label"], 96, rng) for image, mask, meta in pool]
    assert torch.equal(images, torch.from_numpy(np.stack([i for i, _ in one_by_one]).astype(np.float32)))
    assert torch.equal(targets[:, 0], torch.from_numpy(np.stack([t for _, t in one_by_one])))


def test_marknet_rejects_an_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="arch must be one of"):
        MarkNet(1.0, "medium")
    assert MarkNet(0.5, "large")(torch.zeros(1, 3, 64, 96)).shape == (1, 1, 4, 6)


@pytest.fixture
def keep_torch_threads():  # type: ignore[no-untyped-def]
    threads = torch.get_num_threads()  # the trainer sets its own (--threads)
    yield
    torch.set_num_threads(threads)


def tiny_streamed_run(tmp_path: Path, *arguments: str) -> Path:
    """A streamed run small enough for CPU in seconds (2 crops per sample, 192-px samples)."""
    run = tmp_path / "run"
    assert train_watermark.main([
        "--out", str(run), "--stream", "--crops-per-sample", "2", "--val-samples", "6",
        "--test-samples", "6", "--long-side", "192", "--crop", "96", "--workers", "0",
        "--evaluations", "1", *arguments]) == 0
    return run


@pytest.mark.usefixtures("keep_torch_threads")
def test_a_streamed_run_trains_and_another_machine_registers_it(tmp_path: Path) -> None:
    run = tiny_streamed_run(tmp_path, "--train-samples", "8", "--batch-size", "8",
                            "--version", "1.90")
    record = json.loads((run / "run.json").read_text())
    assert record["history"][-1]["samples"] == 8 and record["version"] == "1.90"
    assert "--stream" in record["command"] and "CPU threads" in record["where"]

    registry_root = tmp_path / "registry"
    registry_root.mkdir()
    with pytest.raises(SystemExit, match="--card-note .*missing.md: no such file"):
        train_watermark.main(["--from-run", str(run), "--card-note", str(tmp_path / "missing.md")])
    note = tmp_path / "note.md"
    note.write_text("The photos reached that machine as shrunk JPEG copies.\n")
    assert train_watermark.main(["--from-run", str(run), "--register", str(registry_root),
                                 "--version", "1.91", "--card-note", str(note)]) == 0
    version = ModelRegistry([registry_root]).get("watermark", "1.91")
    assert version is not None and version.config["long_side"] == 192
    card = (version.directory / "card.md").read_text()
    assert "one pass over 8 samples" in card and "--stream" in card
    assert card.index("as shrunk JPEG copies.") < card.index("## Metrics")
    # The served detector sees the photo at the size its version learnt, unless told otherwise.
    assert WatermarkDetector(version).long_side == 192
    assert WatermarkDetector(version, DetectorOptions(input_long_side=256)).long_side == 256
    probabilities = WatermarkDetector(version).predict(
        np.zeros((300, 400, 3), np.uint8)).probabilities
    assert probabilities.shape == (9, 12)


@pytest.mark.usefixtures("keep_torch_threads")
def test_a_run_cut_short_by_max_minutes_says_so_on_its_card(tmp_path: Path) -> None:
    run = tiny_streamed_run(tmp_path, "--train-samples", "16", "--batch-size", "4",
                            "--max-minutes", "0", "--version", "1.92")
    last = json.loads((run / "run.json").read_text())["history"][-1]
    assert last["samples"] == 2 and last["stopped"] == "--max-minutes 0.0 reached"
    card = (run / "card.md").read_text()
    assert "one pass over 16 samples" in card
    assert "(--max-minutes 0.0 reached after 2 samples: the one-cycle" in card


@pytest.mark.usefixtures("keep_torch_threads")
def test_a_run_scheduled_by_the_clock_has_annealed_when_the_clock_stops_it(
        tmp_path: Path) -> None:
    run = tiny_streamed_run(tmp_path, "--train-samples", "16", "--batch-size", "4",
                            "--max-minutes", "0", "--schedule-by-clock", "--version", "1.93")
    last = json.loads((run / "run.json").read_text())["history"][-1]
    assert last["samples"] == 2 and last["stopped"] == "--max-minutes 0.0 reached"
    assert last["lr"] == pytest.approx(3e-3 / 25 / 1e4, rel=0.01)  # one-cycle's final rate
    card = (run / "card.md").read_text()
    assert "(`--schedule-by-clock`, 0.0 min)" in card
    assert "after 2 samples: the schedule annealed by the clock" in card


def test_the_clock_moves_the_schedule_ahead_never_back() -> None:
    def scheduler() -> torch.optim.lr_scheduler.OneCycleLR:
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=100,
                                                   pct_start=0.1)

    def advance(schedule: torch.optim.lr_scheduler.OneCycleLR, steps: int = 1) -> None:
        for _ in range(steps):
            schedule.optimizer.step()
            schedule.step()

    reference, followed = scheduler(), scheduler()
    advance(reference, 51)
    advance(followed, 10)
    train_watermark.follow_the_clock(followed, 0.5)  # half the time gone, a tenth of the steps
    advance(followed)
    assert followed.get_last_lr() == reference.get_last_lr()
    train_watermark.follow_the_clock(followed, 0.2)  # the steps are ahead: left as they are
    advance(followed)
    advance(reference)
    assert followed.get_last_lr() == reference.get_last_lr()
    train_watermark.follow_the_clock(followed, 3.0)  # past the time allowed: the last step
    advance(followed)
    assert followed.last_epoch == 99 and followed.get_last_lr()[0] < 1e-8


def test_from_run_names_a_folder_without_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no run.json"):
        train_watermark.main(["--from-run", str(tmp_path)])


def test_stream_options_are_checked() -> None:
    with pytest.raises(SystemExit):
        train_watermark.parse_args(["--out", "x", "--batch-size", "10", "--crops-per-sample", "4"])
    with pytest.raises(SystemExit):
        train_watermark.parse_args([])  # no --out and no --from-run
    with pytest.raises(SystemExit):  # the clock needs a time allowed
        train_watermark.parse_args(["--out", "x", "--stream", "--schedule-by-clock"])


def test_mark_weights_are_parsed_and_a_bad_pair_is_named(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = train_watermark.parse_args(["--out", "x", "--mark-weights", "logo=3, tiled_logo=1.5"])
    assert args.mark_weights == {"logo": 3.0, "tiled_logo": 1.5}
    assert train_watermark.parse_args(["--out", "x"]).mark_weights == {}
    for bad, named in (("logo=x", "'logo=x' is not KIND=WEIGHT"), ("ring=2", "unknown mark kinds"),
                       ("logo=-1", "not negative")):
        with pytest.raises(SystemExit):
            train_watermark.parse_args(["--out", "x", "--mark-weights", bad])
        assert named in capsys.readouterr().err
    weighted = StreamedCrops("train", 5, 100, 192, 96, 1, augment=False,
                             mark_weights={"logo": 1.0, "url": 0.0})
    plain = StreamedCrops("train", 5, 100, 192, 96, 1, augment=False)
    assert weighted.mark_weights == (("logo", 1.0), ("url", 0.0))
    assert any(not torch.equal(weighted[i][0], plain[i][0]) for i in range(6))


SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "models/weights/watermark/1.2/watermark.pt"


def test_init_starts_from_an_earlier_runs_weights_and_refuses_another_shape() -> None:
    """What a second GPU run does (`--init` with `--stream`): start where a run left off."""
    args = train_watermark.parse_args(["--out", "x", "--stream", "--init", str(SHIPPED_WEIGHTS)])
    model = train_watermark.initial_model(args)  # 1.2: Small, width 0.5, the defaults
    saved = torch.jit.load(str(SHIPPED_WEIGHTS), map_location="cpu").state_dict()
    assert all(torch.equal(model.state_dict()[name], saved[name]) for name in saved)

    other = train_watermark.parse_args(["--out", "x", "--stream", "--arch", "large",
                                        "--width", "1.0", "--init", str(SHIPPED_WEIGHTS)])
    with pytest.raises(SystemExit, match="not a MarkNet of --arch large --width 1.0"):
        train_watermark.initial_model(other)
    missing = train_watermark.parse_args(["--out", "x", "--init", "no/such/watermark.pt"])
    with pytest.raises(SystemExit, match="no such file"):
        train_watermark.initial_model(missing)


@pytest.mark.usefixtures("keep_torch_threads")
@pytest.mark.parametrize("freeze_to, described", [
    (16, "its layers up to stride 16 frozen"),
    (0, "every layer\nfine-tuned (BatchNorm statistics kept)")])
def test_a_run_on_the_ocr_backbone_is_rebuilt_with_its_frozen_stride(
        tmp_path: Path, freeze_to: int, described: str) -> None:
    run = tiny_streamed_run(tmp_path, "--train-samples", "4", "--batch-size", "4",
                            "--arch", "ppocr", "--freeze-to", str(freeze_to), "--version", "1.93")
    registry_root = tmp_path / "registry"
    registry_root.mkdir()
    assert train_watermark.main(["--from-run", str(run), "--register", str(registry_root)]) == 0
    version = ModelRegistry([registry_root]).get("watermark", "1.93")
    assert version is not None
    assert (version.config["arch"], version.config["freeze_to"]) == ("ppocr", freeze_to)
    card = (version.directory / "card.md").read_text()
    assert described in card and "onnx2torch (Apache-2.0)" in card
    assert "no pretrained weights used" not in card
    # --from-run rebuilt the network the run trained: the served ONNX scores as the run's own
    # TorchScript file does.
    image = np.random.default_rng(3).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    served = WatermarkDetector(version).predict(image).probabilities
    scripted = WatermarkDetector(version, DetectorOptions(backend="torchscript")).predict(image)
    assert served.shape == (9, 12)
    assert np.abs(served - scripted.probabilities).max() < 1e-4


def test_a_frozen_stride_is_refused_for_a_network_without_the_ocr_backbone(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        train_watermark.parse_args(["--out", "x", "--arch", "large", "--freeze-to", "16"])
    assert "--freeze-to applies to --arch ppocr only" in capsys.readouterr().err
