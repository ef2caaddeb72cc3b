"""The fast downscale the detectors share (`moderation.imaging`) and the ONNX Runtime options
every model runs with (`models.onnx_runtime`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.onnx_runtime import session_options
from moderation.imaging import shrink, shrink_to_side
from tests import real_photos


@pytest.fixture(scope="module")
def working_image() -> np.ndarray:
    """A real photo at the working size, odd on one side, with sensor-like noise."""
    photo = cv2.resize(real_photos.skimage_photo("astronaut"), (1600, 1199),
                       interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).normal(0, 5, photo.shape)
    return np.clip(photo + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(512, 384), (448, 336), (384, 288), (320, 240), (160, 160),
                                  (256, 192)])
def test_shrink_gives_the_size_asked_for_and_stays_close_to_the_area_filter(
        working_image: np.ndarray, size: tuple[int, int]) -> None:
    fast = shrink(working_image, size)
    exact = cv2.resize(working_image, size, interpolation=cv2.INTER_AREA)
    assert fast.shape == exact.shape and fast.dtype == np.uint8
    assert np.abs(fast.astype(np.int16) - exact).mean() < 2.0  # grey levels


def test_shrink_to_side_never_enlarges_and_reports_its_factor(working_image: np.ndarray) -> None:
    small, factor = shrink_to_side(working_image, 400)
    assert max(small.shape[:2]) == 400 and factor == pytest.approx(0.25)
    same, factor = shrink_to_side(small, 1600)
    assert same is small and factor == 1.0


def test_grey_images_shrink_too(working_image: np.ndarray) -> None:
    grey = cv2.cvtColor(working_image, cv2.COLOR_RGB2GRAY)
    assert shrink(grey, (256, 256)).shape == (256, 256)


def test_model_threads_sleep_instead_of_spinning() -> None:
    options = session_options(threads=1)
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
