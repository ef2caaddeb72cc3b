"""What photographic guidelines ask to hold constant between a before and an after photo.

Each measurement comes in units a reviewer reads: degrees of view or rotation, a scale ratio,
a shift in percent of the frame, exposure in EV (stops), colour shift as CIELAB delta a*b*,
a sharpness ratio, the background's colour difference (delta E), and the change in the share of
the photo lost to deep shadow or blown highlights.

Geometry comes from registering the after photo onto the before photo (ORB features,
RANSAC): a similarity transform gives scale, rotation and shift; a homography gives the change
of viewpoint (yaw/pitch of the camera, from K^-1 H K with a 45-degree lens assumed). Faces
(issue 6's detector, with landmarks) give head yaw/pitch differences when both photos show one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from moderation.imaging import shrink

REGISTER_SIDE = 400
ASSUMED_FOV_DEGREES = 45.0


@dataclass
class Geometry:
    registered: bool
    matched_features: int
    scale_ratio: float | None = None  # after / before subject size
    rotation_deg: float | None = None
    shift_percent: float | None = None  # of the frame diagonal
    view_change_deg: float | None = None  # camera yaw/pitch change from the homography


@dataclass
class Photometry:
    exposure_difference_ev: float
    colour_shift_delta_ab: float
    sharpness_ratio: float
    background_delta_e: float
    lost_detail_difference_percent: float


def register(before: np.ndarray, after: np.ndarray, min_inliers: int = 15,
             features: int = 2000) -> Geometry:
    """How the after photo's framing maps onto the before photo's, from up to `features`
    ORB features per photo (matching them all against all costs features squared)."""
    a, factor_a = _grey(before)
    b, factor_b = _grey(after)
    orb = cv2.ORB_create(nfeatures=features, scaleFactor=1.2, nlevels=8, fastThreshold=12)
    keys_a, desc_a = orb.detectAndCompute(a, None)
    keys_b, desc_b = orb.detectAndCompute(b, None)
    if desc_a is None or desc_b is None or len(keys_a) < min_inliers or len(keys_b) < min_inliers:
        return Geometry(False, 0)
    good = _ratio_matches(desc_b, desc_a)
    if len(good) < min_inliers:
        return Geometry(False, len(good))
    # Both photos in the before photo's working pixels (they may differ in size).
    points_b = np.float32([keys_b[query].pt for query, _ in good]) / factor_b
    points_a = np.float32([keys_a[train].pt for _, train in good]) / factor_a
    height, width = before.shape[:2]
    threshold = 0.012 * max(height, width)
    similarity, inliers = cv2.estimateAffinePartial2D(points_b, points_a, method=cv2.RANSAC,
                                                      ransacReprojThreshold=threshold)
    count = int(inliers.sum()) if inliers is not None else 0
    if similarity is None or count < min_inliers:
        return Geometry(False, count)
    # after -> before: a scale s here means the subject is s times *smaller* in the after photo.
    s = math.hypot(similarity[0, 0], similarity[1, 0])
    if not 0.05 < s < 20:  # a degenerate fit (all matches on one point or one line)
        return Geometry(False, count)
    rotation = math.degrees(math.atan2(similarity[1, 0], similarity[0, 0]))
    centre_b = np.array([after.shape[1] / 2, after.shape[0] / 2])
    mapped = similarity[:, :2] @ centre_b + similarity[:, 2]
    shift = float(np.linalg.norm(mapped - [width / 2, height / 2]) / math.hypot(width, height))
    homography, _ = cv2.findHomography(points_b, points_a, cv2.RANSAC, threshold)
    view = _view_change(homography, width, height) if homography is not None else None
    return Geometry(True, count, scale_ratio=round(1 / s, 3), rotation_deg=round(rotation, 1),
                    shift_percent=round(100 * shift, 1),
                    view_change_deg=None if view is None else round(view, 1))


def _ratio_matches(query: np.ndarray, train: np.ndarray) -> list[tuple[int, int]]:
    """(query, train) index pairs whose nearest train descriptor (Hamming) is clearly nearer
    than the second nearest (Lowe's ratio 0.8), in query order.

    FAISS's exact binary search (4 ms CPU a pair of 2000-feature photos) gives the same pairs
    as OpenCV's brute-force knnMatch (19 ms): a tie for the nearest fails the ratio either way,
    so tie order cannot change the result (tests/test_comparability.py compares the two)."""
    import faiss  # exact brute force over 256-bit codes, like the duplicate index

    faiss.omp_set_num_threads(1)  # as the duplicate index: one thread per search, no spinning
    index = faiss.IndexBinaryFlat(train.shape[1] * 8)
    index.add(np.ascontiguousarray(train))
    distances, indices = index.search(np.ascontiguousarray(query), 2)
    clear = (indices[:, 1] >= 0) & (distances[:, 0] < 0.8 * distances[:, 1])
    return [(int(q), int(indices[q, 0])) for q in np.flatnonzero(clear)]


def _grey(image: np.ndarray) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    factor = min(1.0, REGISTER_SIDE / max(height, width))
    small = image if factor == 1.0 else shrink(
        image, (round(width * factor), round(height * factor)))
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    # Equalised, so that an exposure change does not starve the detector of corners.
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey), factor


def _view_change(homography: np.ndarray, width: int, height: int) -> float | None:
    """Camera rotation out of the image plane implied by a homography (degrees)."""
    focal = 0.5 * width / math.tan(math.radians(ASSUMED_FOV_DEGREES / 2))
    k = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    rotation = np.linalg.inv(k) @ homography @ k
    norm = np.cbrt(np.linalg.det(rotation))
    if not np.isfinite(norm) or norm <= 0:
        return None
    rotation = rotation / norm
    # The out-of-plane part lives in the third row (perspective terms).
    yaw = math.degrees(math.atan2(-rotation[2, 0], rotation[2, 2]))
    pitch = math.degrees(math.atan2(rotation[2, 1], rotation[2, 2]))
    return math.hypot(yaw, pitch)


def photometry(before: np.ndarray, after: np.ndarray) -> Photometry:
    # One 512-px copy per photo for sharpness, one 256-px copy of it for everything else.
    before, after = _small(before, 512), _small(after, 512)
    sharp = math.log2(max(_sharpness(after), 1e-6) / max(_sharpness(before), 1e-6))
    before, after = _small(before), _small(after)
    lab_a, lab_b = _lab(before), _lab(after)
    lum_a, lum_b = _linear_luminance(before), _linear_luminance(after)
    ev = math.log2(max(_trimmed_mean(lum_b), 1e-4) / max(_trimmed_mean(lum_a), 1e-4))
    chroma_a = lab_a[..., 1:].reshape(-1, 2).mean(axis=0)
    chroma_b = lab_b[..., 1:].reshape(-1, 2).mean(axis=0)
    background = float(np.linalg.norm(_ring_mean(lab_b) - _ring_mean(lab_a)))
    lost = _lost_share(before), _lost_share(after)
    return Photometry(
        exposure_difference_ev=round(ev, 2),
        colour_shift_delta_ab=round(float(np.linalg.norm(chroma_b - chroma_a)), 1),
        sharpness_ratio=round(2 ** sharp, 2),
        background_delta_e=round(background, 1),
        lost_detail_difference_percent=round(100 * (lost[1] - lost[0]), 1),
    )


def _small(image: np.ndarray, side: int = 256) -> np.ndarray:
    height, width = image.shape[:2]
    factor = min(1.0, side / max(height, width))
    if factor == 1.0:
        return image
    return shrink(image, (round(width * factor), round(height * factor)))


def _lab(image: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(_small(image).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return lab


def _linear_luminance(image: np.ndarray) -> np.ndarray:
    return _SRGB_TO_LINEAR[_small(image)] @ np.array([0.2126, 0.7152, 0.0722], np.float32)


_SRGB_TO_LINEAR = np.array([v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
                            for v in np.arange(256) / 255.0], dtype=np.float32)


def _trimmed_mean(values: np.ndarray, cut: float = 0.02) -> float:
    low, high = np.quantile(values, [cut, 1 - cut])
    kept = values[(values >= low) & (values <= high)]
    return float(kept.mean()) if kept.size else float(values.mean())


def _ring_mean(lab: np.ndarray, share: float = 0.08) -> np.ndarray:
    """Mean colour of the outer ring of the frame: mostly background in clinical photos."""
    height, width = lab.shape[:2]
    dy, dx = max(1, int(height * share)), max(1, int(width * share))
    ring = np.concatenate([lab[:dy].reshape(-1, 3), lab[-dy:].reshape(-1, 3),
                           lab[dy:-dy, :dx].reshape(-1, 3), lab[dy:-dy, -dx:].reshape(-1, 3)])
    return ring.mean(axis=0)


def _sharpness(image: np.ndarray) -> float:
    grey = cv2.cvtColor(_small(image, 512), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def _lost_share(image: np.ndarray) -> float:
    """Share of pixels in deep shadow or blown highlights (detail a reviewer cannot see)."""
    grey = cv2.cvtColor(_small(image), cv2.COLOR_RGB2GRAY)
    return float(((grey <= 8) | (grey >= 250)).mean())


# ---------------------------------------------------------------- faces


@dataclass
class FacePose:
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    eye_distance_share: float  # eye distance / frame diagonal
    centre: tuple[float, float]  # face centre, as shares of width and height


def face_pose(face: object, width: int, height: int) -> FacePose:
    """Head pose from five landmarks (eyes, nose, mouth corners) of issue 6's `Face`."""
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks  # type: ignore[attr-defined]
    eye_mid = np.array([(lx + rx) / 2, (ly + ry) / 2])
    mouth_mid = np.array([(mlx + mrx) / 2, (mly + mry) / 2])
    eye_axis = np.array([rx - lx, ry - ly])
    eye_distance = float(np.linalg.norm(eye_axis)) or 1.0
    along = float(np.dot([nx, ny] - eye_mid, eye_axis / eye_distance))
    yaw = math.degrees(math.asin(float(np.clip(2 * along / eye_distance, -1, 1))))
    vertical = mouth_mid - eye_mid
    span = float(np.linalg.norm(vertical)) or 1.0
    # The nose sits about 55% of the way from the eyes to the mouth in a level frontal face.
    down = float(np.dot([nx, ny] - eye_mid, vertical / span)) / span
    pitch = math.degrees(math.asin(float(np.clip((down - 0.55) * 2.5, -1, 1))))
    roll = math.degrees(math.atan2(ry - ly, rx - lx))
    x, y, w, h = face.box  # type: ignore[attr-defined]
    return FacePose(yaw, pitch, roll, eye_distance / math.hypot(width, height),
                    ((x + w / 2) / width, (y + h / 2) / height))


def as_values(*parts: object) -> dict[str, object]:
    values: dict[str, object] = {}
    for part in parts:
        if part is not None:
            values.update({k: v for k, v in asdict(part).items() if v is not None})  # type: ignore[call-overload]
    return values
