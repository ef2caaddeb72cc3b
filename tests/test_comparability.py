"""The comparability check: measurements in reviewer units, and the check through the pipeline."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import comparability as pair_data
from datasets.open_photos import by_name
import cv2

from models.comparability import _grey, _ratio_matches, photometry, register
from moderation.pipeline import ModerationPipeline
from moderation.settings import Settings
from tests.conftest import submission_json


@pytest.fixture(scope="module")
def case() -> pair_data.PairCase:
    return pair_data.make_case(np.random.default_rng(5), by_name("chelsea"))


def test_a_matched_pair_measures_small_differences(case: pair_data.PairCase) -> None:
    geometry = register(case.before, case.matched_after)
    assert geometry.registered and geometry.matched_features > 50
    assert 0.9 < geometry.scale_ratio < 1.1
    assert abs(geometry.rotation_deg) < 2 and geometry.shift_percent < 6
    light = photometry(case.before, case.matched_after)
    assert abs(light.exposure_difference_ev) < 0.3 and light.colour_shift_delta_ab < 3


def test_each_mismatch_shows_in_its_own_unit(case: pair_data.PairCase) -> None:
    zoomed = register(case.before, case.mismatched_after["scale_2x"])
    assert zoomed.scale_ratio == pytest.approx(2.0, rel=0.12)
    turned = register(case.before, case.mismatched_after["different_view"])
    assert not turned.registered or turned.view_change_deg > 15
    brighter = photometry(case.before, case.mismatched_after["exposure_plus_1.5ev"])
    darker = photometry(case.before, case.mismatched_after["exposure_minus_1.5ev"])
    assert brighter.exposure_difference_ev > 0.9 and darker.exposure_difference_ev < -1.2
    assert photometry(case.before, case.mismatched_after["colour_cast"]).colour_shift_delta_ab > 8


@pytest.mark.parametrize("after", ["matched", "scale_2x", "different_view"])
def test_feature_matches_are_opencv_brute_force_s(case: pair_data.PairCase, after: str) -> None:
    orb = cv2.ORB_create(nfeatures=2000, scaleFactor=1.2, nlevels=8, fastThreshold=12)
    other = case.matched_after if after == "matched" else case.mismatched_after[after]
    _, train = orb.detectAndCompute(_grey(case.before)[0], None)
    _, query = orb.detectAndCompute(_grey(other)[0], None)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query, train, k=2)
    expected = [(m.queryIdx, m.trainIdx) for m, *rest in pairs
                if rest and m.distance < 0.8 * rest[0].distance]
    assert len(expected) >= 15
    assert _ratio_matches(query, train) == expected


def jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_the_check_fails_a_zoomed_after_and_passes_a_matched_one(case: pair_data.PairCase,
                                                                  tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, checks={"collage": {"enabled": False}})
    pipeline = ModerationPipeline.from_settings(settings)
    two_sets = submission_json(photo_sets=[{"view": "frontal", "before": "b1", "after": "a1"},
                                           {"view": "frontal", "before": "b2", "after": "a2"}])
    files = {"b1": jpeg(case.before), "a1": jpeg(case.matched_after),
             "b2": jpeg(case.before), "a2": jpeg(case.mismatched_after["scale_2x"])}
    result = pipeline.score(pipeline.prepare(pipeline.parse_submission(two_sets), files))
    findings = {f.target: f for f in result.findings if f.check == "comparability"}
    assert set(findings) == {"photo:set1/after", "photo:set2/after"}
    matched, zoomed = findings["photo:set1/after"], findings["photo:set2/after"]
    assert matched.verdict == "pass", matched.reason
    assert zoomed.verdict == "fail"
    assert zoomed.reason.startswith("set2: after differs from before in subject scale (x")
    assert zoomed.evidence.values["scale_ratio"] == pytest.approx(2.0, rel=0.12)
    assert "scale" in zoomed.evidence.values["beyond_tolerance"]
    assert result.recommendation["gallery"].action != "approve"
