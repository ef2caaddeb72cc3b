"""Checks, the registry, the scorer and the recommendation policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.checks.base import BOTH_DESTINATIONS, Check, CheckContext, Observation
from moderation.checks.registry import CHECKS, build_checks, load_check_class
from moderation.intake import PreparedSubmission
from moderation.pipeline import ModerationPipeline
from moderation.policy import verdict_for
from moderation.schemas import Action, Destination, Verdict
from moderation.settings import CheckSettings, Settings
from moderation.taxonomy import default_taxonomy
from tests import photos
from tests.conftest import submission_json


def score(pipeline: ModerationPipeline, before: bytes, after: bytes, **overrides: object):
    submission = pipeline.parse_submission(submission_json(**overrides))
    return pipeline.score(pipeline.prepare(submission, {"b1": before, "a1": after}))


@pytest.fixture
def pipeline(tmp_path: Path) -> ModerationPipeline:
    # Undecodable photos are scored here rather than refused, to see the integrity findings.
    return ModerationPipeline.from_settings(
        Settings(data_dir=tmp_path, intake={"refuse_undecodable": False}))


def test_undecodable_photos_are_refused_by_default(tmp_path: Path) -> None:
    from moderation.errors import InvalidSubmission

    pipeline = ModerationPipeline.from_settings(Settings(data_dir=tmp_path))
    submission = pipeline.parse_submission(submission_json())
    broken = photos.truncated(photos.jpeg(photos.scene(seed=3)))
    with pytest.raises(InvalidSubmission) as refused:
        pipeline.prepare(submission, {"b1": photos.jpeg(), "a1": broken})
    assert "photo:set1/after (file part 'a1') is truncated" in refused.value.message
    assert refused.value.errors == [{"loc": ["photo:set1/after"], "type": "integrity.truncated",
                                     "msg": "the file ends before the image data does"}]


def findings_of(result, check: str) -> dict[str, object]:
    return {f.target: f for f in result.findings if f.check == check}


def test_registry_lists_only_built_checks_and_each_loads() -> None:
    assert set(CHECKS) == {"integrity", "phi_image", "phi_text", "procedure_match", "duplicate",
                           "collage", "comparability", "watermark"}
    for name, path in CHECKS.items():
        check_class = load_check_class(path)
        assert check_class.name == name and check_class.version
        assert check_class.destinations <= BOTH_DESTINATIONS


def test_a_check_can_be_disabled_in_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, checks={"phi_image": {"enabled": False}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    assert "phi_image" not in [check.name for check in build_checks(context)]
    assert "integrity" in [check.name for check in build_checks(context)]


def test_clean_photos_pass_integrity(pipeline: ModerationPipeline) -> None:
    result = score(pipeline, photos.jpeg(photos.scene(seed=1)), photos.png(photos.scene(seed=2)))
    integrity = findings_of(result, "integrity")
    assert set(integrity) == {"photo:set1/before", "photo:set1/after"}
    assert all(f.verdict is Verdict.PASS for f in integrity.values())
    assert integrity["photo:set1/after"].evidence.values["format"] == "PNG"


@pytest.mark.parametrize(("broken", "problem"), [
    (photos.truncated(photos.jpeg(photos.scene(seed=3))), "truncated"),
    (photos.png_with_bad_crc(photos.png(photos.scene(seed=3))), None),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "unreadable"),
    (photos.jpeg(photos.scene(64, 48)), "too_small"),
])
def test_broken_photos_fail_integrity_with_the_reason(pipeline: ModerationPipeline,
                                                      broken: bytes, problem: str | None) -> None:
    result = score(pipeline, photos.jpeg(), broken)
    finding = findings_of(result, "integrity")["photo:set1/after"]
    assert finding.evidence.values["problem"] == (problem or finding.evidence.values["problem"])
    assert finding.evidence.values["problem"] in {"truncated", "corrupted", "unreadable", "too_small"}
    assert finding.verdict in {Verdict.FAIL, Verdict.UNCERTAIN}
    assert result.recommendation[Destination.PROFILE].action in {Action.REJECT, Action.REVIEW}
    assert any(reason.startswith("integrity: photo:set1/after is")
               for reason in result.recommendation[Destination.PROFILE].reasons)


def test_truncated_photo_is_rejected_for_both_destinations(pipeline: ModerationPipeline) -> None:
    result = score(pipeline, photos.jpeg(), photos.truncated(photos.jpeg(photos.scene(seed=4))))
    assert result.recommendation[Destination.PROFILE].action is Action.REJECT
    assert result.recommendation[Destination.GALLERY].action is Action.REJECT
    assert result.risk == 1.0


def test_blank_and_cut_off_photos_fail_integrity(pipeline: ModerationPipeline) -> None:
    from PIL import Image
    import numpy as np

    blank = photos.jpeg(Image.new("RGB", (800, 600), (30, 30, 30)))
    half_grey = np.asarray(photos.scene(800, 600, seed=5)).copy()
    half_grey[400:] = 128
    result = score(pipeline, blank, photos.png(Image.fromarray(half_grey)))
    integrity = findings_of(result, "integrity")
    assert integrity["photo:set1/before"].evidence.values["problem"] == "blank"
    assert integrity["photo:set1/after"].evidence.values["problem"] == "partial"


def test_metadata_becomes_a_phi_image_finding_with_its_key(pipeline: ModerationPipeline) -> None:
    tagged = photos.jpeg(exif=photos.exif_with(gps=True, artist="Jane Roe"))
    result = score(pipeline, tagged, photos.jpeg(photos.scene(seed=9)))
    phi = findings_of(result, "phi_image")
    before = phi["photo:set1/before"]
    assert before.verdict is Verdict.FAIL
    assert {entry["key"] for entry in before.evidence.metadata} == {"EXIF GPSInfo", "EXIF Artist"}
    assert all(entry["stripped"] for entry in before.evidence.metadata)
    assert phi["photo:set1/after"].verdict is Verdict.PASS
    reasons = " ".join(result.recommendation[Destination.PROFILE].reasons)
    assert "phi_image: EXIF GPSInfo (GPS position) in photo:set1/before" in reasons
    assert "Jane Roe" not in reasons


def test_a_rule_without_a_check_sends_the_destination_to_review(tmp_path: Path) -> None:
    # Every rule has a check now; turning one off shows what happens to a rule not checked.
    settings = Settings(data_dir=tmp_path, checks={"collage": {"enabled": False}})
    result = score(ModerationPipeline.from_settings(settings), photos.jpeg(photos.scene(seed=1)),
                   photos.jpeg(photos.scene(seed=2)))
    gallery = result.recommendation[Destination.GALLERY]
    assert gallery.action is not Action.APPROVE  # review, or reject when a built check fails
    assert "collage: not checked automatically; check it by eye" in gallery.reasons
    assert not any(r.startswith("collage") for r in result.recommendation[Destination.PROFILE].reasons)


def test_verdicts_follow_the_thresholds_in_settings() -> None:
    thresholds = CheckSettings(fail_at=0.8, pass_below=0.3)
    assert verdict_for(0.85, thresholds) is Verdict.FAIL
    assert verdict_for(0.8, thresholds) is Verdict.FAIL
    assert verdict_for(0.5, thresholds) is Verdict.UNCERTAIN
    assert verdict_for(0.29, thresholds) is Verdict.PASS
    with pytest.raises(ValueError, match="pass_below must not exceed fail_at"):
        CheckSettings(fail_at=0.2, pass_below=0.5)


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHECKS__INTEGRITY__FAIL_AT", "0.65")
    monkeypatch.setenv("API_KEYS", "one, two,")
    settings = Settings(data_dir=tmp_path)
    assert settings.check("integrity").fail_at == 0.65
    assert settings.check("integrity").options["min_side"] == 300  # the rest keeps its default
    assert settings.api_keys == ["one", "two"]
    # with the lower bar, a too-small photo (score 0.7) now fails
    result = score(ModerationPipeline.from_settings(settings), photos.jpeg(),
                   photos.jpeg(photos.scene(64, 48)))
    assert findings_of(result, "integrity")["photo:set1/after"].verdict is Verdict.FAIL


def test_a_config_file_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "moderation.toml"
    config.write_text("[checks.integrity.options]\nmin_side = 1000\n")
    monkeypatch.setenv("MODERATION_CONFIG", str(config))
    settings = Settings(data_dir=tmp_path)
    assert settings.check("integrity").options == {"min_side": 1000, "blank_std": 2.0,
                                                   "partial_rows": 0.08}


class _ExplodingCheck(Check):
    """Test-only: a check that raises, to show the scorer isolates it."""

    name = "exploding"
    version = "0"
    destinations = BOTH_DESTINATIONS

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        raise ValueError(f"boom with PHI {submission.submission.description}")


class _TimedCheck(Check):
    name = "timed"
    version = "0"
    destinations = BOTH_DESTINATIONS

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        return [Observation("description", 0.1, "fine")]


def test_a_check_that_raises_is_reported_as_error_and_the_case_goes_to_review(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path)
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    checks = [*build_checks(context), _ExplodingCheck(CheckSettings(), context),
              _TimedCheck(CheckSettings(), context)]
    pipeline = ModerationPipeline(settings, default_taxonomy(), checks)
    result = score(pipeline, photos.jpeg(), photos.jpeg(photos.scene(seed=2)),
                   description="Patient Jane Roe, DOB 02/03/1980")
    errors = [f for f in result.findings if f.verdict is Verdict.ERROR]
    assert [(f.check, f.target) for f in errors] == [("exploding", "case")]
    assert any(f.check == "timed" for f in result.findings)  # the others still ran
    profile = result.recommendation[Destination.PROFILE]
    assert profile.action is not Action.APPROVE  # review, or reject where a built check fails
    assert "exploding: the check failed to run (ValueError)" in profile.reasons
    assert {"exploding", "timed", "integrity", "decode", "total"} <= set(result.timings_ms)
    assert "ValueError" in caplog.text and "Jane Roe" not in caplog.text


def test_result_shape_matches_the_design(pipeline: ModerationPipeline) -> None:
    result = score(pipeline, photos.jpeg(photos.scene(seed=1)), photos.jpeg(photos.scene(seed=2)))
    body = json.loads(result.model_dump_json())
    assert {"submission_id", "case_id", "risk", "recommendation", "findings", "photos",
            "timings_ms"} <= set(body)
    assert set(body["recommendation"]) == {"profile", "gallery"}
    assert {"check", "target", "score", "verdict", "evidence", "model"} <= set(body["findings"][0])
    assert [p["id"] for p in body["photos"]] == ["set1/before", "set1/after"]
    assert {"name": "integrity-rules", "version": "1.0"} in body["models"]
