"""The benchmarks encode each photo once; a later photo must never be sent as an earlier one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.procedure_match import prepared_photo
from moderation.settings import Settings


def test_each_new_photo_is_sent_as_itself_even_when_the_last_one_was_freed() -> None:
    settings = Settings(data_dir=Path("data"))
    for shade in range(0, 250, 50):
        # built and dropped in turn: CPython hands a freed array's id to the next one
        image = np.full((64, 64, 3), shade, np.uint8)
        prepared = prepared_photo(image, settings)
        assert prepared.image is not None
        assert abs(float(prepared.image.mean()) - shade) < 3, shade
        del image, prepared
