"""Downscaling the working image for the detectors, which each see a few hundred pixels of it.

OpenCV's area filter is fast only when it halves an image (a 2 x 2 mean): 1600 -> 800 px takes
0.5 ms, but 1600 -> 512 px, an arbitrary factor, takes 7 ms, and every detector asks for its own
size. `shrink` halves while the image stays at least twice the size asked for, then resamples
the rest of the way (less than 2x) bilinearly: ~1 ms, and within one or two grey levels on
average of the direct area filter (tests/test_imaging.py). Models trained on the direct area
filter keep it (their scores move with the resize).
"""

from __future__ import annotations

import cv2
import numpy as np


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` resized to `size` (width, height); enlarging is left to the bilinear filter."""
    width, height = size
    original_height, original_width = image.shape[:2]
    halvings = 0
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        rows, columns = image.shape[0] // 2, image.shape[1] // 2
        # An odd last row or column waits for the last step: halving stays a plain 2 x 2 mean.
        image = cv2.resize(image[: 2 * rows, : 2 * columns], (columns, rows),
                           interpolation=cv2.INTER_AREA)
        halvings += 1
    if halvings == 0 and image.shape[1] == width and image.shape[0] == height:
        return image
    # The last step maps the original frame exactly (rows a halving left out included), so an
    # odd-sized photo is not stretched: output pixel centre t samples (t + 0.5) * k - 0.5.
    kx = original_width / (2 ** halvings * width)
    ky = original_height / (2 ** halvings * height)
    inverse = np.array([[kx, 0.0, 0.5 * kx - 0.5], [0.0, ky, 0.5 * ky - 0.5]])
    return cv2.warpAffine(image, inverse, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def shrink_to_side(image: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """`image` shrunk so that its long side is `long_side` (never enlarged), and the factor."""
    height, width = image.shape[:2]
    factor = min(1.0, long_side / max(height, width))
    if factor == 1.0:
        return image, 1.0
    return shrink(image, (max(1, round(width * factor)), max(1, round(height * factor)))), factor
