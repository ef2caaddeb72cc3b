"""Perceptual fingerprints of photos and the in-memory index that finds reused ones.

A fingerprint is ten 64-bit DCT hashes (pHash) — of the whole frame and of nine windows of 90%
of it (a 3 x 3 grid of offsets 0, 5% and 10%) — and a 96 x 96 grey thumbnail. The hashes
survive re-encoding and resizing; the windows make them survive a crop of up to about 10% on
each side, whichever photo was the cropped one (the query's frame is compared with the stored
windows, and the query's windows with the stored frame). The grid's 5% step keeps every crop
within 2.5% of a window, which repetitive textures (brick, gravel) need. A match by hash is a
candidate only: it is confirmed by aligning the two thumbnails (normalised cross-correlation
over crop hypotheses), which tells the same photo from a similar one (the same patient, pose
and lighting months apart).

The index keeps only the hashes in memory (80 bytes a photo, and a row number per hash) in
FAISS binary indexes split by brightness, and answers by brute-force Hamming search within the
brightness bins a query can match: about half a millisecond per query hash per million codes
searched, on one core. Thumbnails and the cases they belong to are read from the store for
candidates only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from moderation.imaging import shrink
from moderation.intake import PreparedPhoto

HASH_SIDE = 32
HASH_KEEP = 8
THUMB_SIDE = 96
WINDOW_SIZE = 0.9
# (y, x) of each window. The first five are those of fingerprints stored before the 3 x 3 grid
# (six codes a row); `stored_codes` fills the other four of such rows from their centre window.
WINDOW_OFFSETS = ((0.0, 0.0), (0.0, 0.1), (0.1, 0.0), (0.1, 0.1), (0.05, 0.05),
                  (0.0, 0.05), (0.05, 0.0), (0.05, 0.1), (0.1, 0.05))
CODES_PER_PHOTO = 1 + len(WINDOW_OFFSETS)
_FIRST_LAYOUT_CODES = 6
_CENTRE_WINDOW = 4
# The query's own windows searched against stored frames (a stored photo that is a crop of the
# query): the corners and the centre. The edge midpoints there would cost 40% more search time.
QUERY_WINDOWS = 5
_MIN_CROP = 0.86  # crops down to 86% of a side are searched
_PYRAMID_LEVELS = 3  # 96 -> 48 -> 24 pixels


@dataclass(frozen=True)
class Fingerprint:
    codes: np.ndarray  # uint64, CODES_PER_PHOTO: the frame, then the windows
    thumb: np.ndarray  # uint8, THUMB_SIDE x THUMB_SIDE grey
    # Mean grey level of the frame and of each window (float32; None for rows stored before
    # the means were): the index searches only stored codes of about the same brightness.
    means: np.ndarray | None = None

    @property
    def frame(self) -> np.uint64:
        return self.codes[0]

    def codes_bytes(self) -> bytes:
        """The codes (little-endian uint64), then the means rounded to uint8 when known."""
        means = b"" if self.means is None else _means_bytes(self.means)
        return self.codes.astype("<u8").tobytes() + means

    def thumb_bytes(self) -> bytes:
        return self.thumb.tobytes()

    @classmethod
    def from_bytes(cls, codes: bytes, thumb: bytes) -> Fingerprint:
        values, means = stored_codes(codes)
        return cls(values, np.frombuffer(thumb, dtype=np.uint8).reshape(THUMB_SIDE, THUMB_SIDE),
                   means)


def _means_bytes(means: np.ndarray) -> bytes:
    return np.clip(np.round(means), 0, 255).astype(np.uint8).tobytes()


def stored_codes(codes: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """(CODES_PER_PHOTO uint64 codes, their means or None) from a stored row: this layout,
    this layout without means, or the first one (six codes, no means)."""
    means = None
    if len(codes) == CODES_PER_PHOTO * 9:
        codes, means = codes[:CODES_PER_PHOTO * 8], np.frombuffer(
            codes[CODES_PER_PHOTO * 8:], dtype=np.uint8).astype(np.float32)
    if len(codes) % 8:
        raise ValueError(f"a stored fingerprint has {len(codes)} bytes of codes")
    values = np.frombuffer(codes, dtype="<u8").astype(np.uint64)
    if len(values) == _FIRST_LAYOUT_CODES:
        missing = CODES_PER_PHOTO - _FIRST_LAYOUT_CODES
        values = np.concatenate([values, np.repeat(values[1 + _CENTRE_WINDOW], missing)])
    if len(values) != CODES_PER_PHOTO:
        raise ValueError(f"a stored fingerprint has {len(values)} codes, not {CODES_PER_PHOTO}")
    return values, means


def fingerprint(image: np.ndarray) -> Fingerprint:
    """The fingerprint of an RGB (or grey) uint8 photo of any size."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    # One small copy serves every window: hashes only look at 32 x 32 of each.
    small = shrink(grey, (256, 256))
    working = small.astype(np.float32)
    size = round(256 * WINDOW_SIZE)
    regions = [working] + [working[round(256 * oy):round(256 * oy) + size,
                                   round(256 * ox):round(256 * ox) + size]
                           for oy, ox in WINDOW_OFFSETS]
    hashed = [_phash(region) for region in regions]
    thumb = shrink(small, (THUMB_SIDE, THUMB_SIDE))
    return Fingerprint(np.array([code for code, _ in hashed], dtype=np.uint64), thumb,
                       np.array([mean for _, mean in hashed], dtype=np.float32))


def _phash(grey: np.ndarray) -> tuple[np.uint64, float]:
    """The 64-bit code and the mean grey level it was made from."""
    small = cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)
    coefficients = cv2.dct(small)[:HASH_KEEP, :HASH_KEEP].flatten()
    bits = coefficients > np.median(coefficients[1:])
    mean = float(coefficients[0]) / HASH_SIDE  # the orthonormal DC term is 32 x the mean
    bits[0] = mean > _MID_GREY  # the first bit: bright or dark overall
    return np.uint64(int.from_bytes(np.packbits(bits).tobytes(), "big")), mean


_MID_GREY = 128.0
# Re-encoding, resizing and a 2.5% misalignment of a window move a code's mean by a few grey
# levels (on the benchmark's photos, copies whose first bit flipped lay within 2.4 levels of
# mid-grey): the index searches stored codes whose mean lies within this margin of the query's.
_BRIGHTNESS_MARGIN = 8.0
_BIN_WIDTH = 16  # grey levels per brightness bin of the index


def hamming(a: np.ndarray | np.uint64, b: np.ndarray | np.uint64) -> np.ndarray:
    return np.bitwise_count(np.bitwise_xor(a, b))


def code_distance(a: Fingerprint, b: Fingerprint) -> int:
    """Smallest Hamming distance the index sees between query `a` and stored photo `b`: `a`'s
    frame against `b`'s frame and windows, `a`'s searched windows against `b`'s frame."""
    return int(min(hamming(a.frame, b.codes).min(), hamming(_query_codes(a), b.frame).min()))


def _query_codes(print_: Fingerprint) -> np.ndarray:
    return print_.codes[:1 + QUERY_WINDOWS]


def similarity(a: Fingerprint, b: Fingerprint, directions: tuple[int, ...] = (0, 1)) -> float:
    """Correlation of the thumbnails at the best crop alignment, either photo the cropped one.

    About 0.92-1.0 for the same photo re-encoded, resized or cropped by up to ~12%; lower for
    another photo of the same scene. The crop (one size per axis) is searched exhaustively at
    a quarter of the thumbnail's resolution, then refined at half and at full resolution.
    `directions`: 0 when `b` may be a crop of `a`, 1 when `a` may be a crop of `b`."""
    first, second = _smooth(a.thumb), _smooth(b.thumb)
    if first.std() < 2 or second.std() < 2:  # flat images: say nothing
        return 0.0
    if _same_thumbnail(a, b):  # the same pixels (the same upload again): no crop can beat 1.0
        return 1.0
    levels = [(first, second)]
    for _ in range(_PYRAMID_LEVELS - 1):
        levels.append(tuple(cv2.pyrDown(image) for image in levels[-1]))  # type: ignore[arg-type]
    top = levels[-1][0].shape[0]
    smallest = round(top * _MIN_CROP)
    _, direction, w, h = max((_match(levels[-1][d], levels[-1][1 - d], w, h), d, w, h)
                             for d in directions for w in range(smallest, top + 1)
                             for h in range(smallest, top + 1))
    for level in reversed(levels[:-1]):
        # A repetitive texture can put the right size two pixels away at half resolution.
        reach = 1 if level is levels[0] else 2
        score, direction, w, h = _refine(level, direction, w, h, reach)
    return score


def _refine(level: tuple[np.ndarray, np.ndarray], direction: int, w: int, h: int, reach: int,
            ) -> tuple[float, int, int, int]:
    """The best crop size at twice the resolution within `reach` pixels of (2w, 2h)."""
    big, small = level[direction], level[1 - direction]
    side = big.shape[0]
    lowest = round(side * _MIN_CROP) - 1
    widths = {min(side, max(lowest, 2 * w + d)) for d in range(-reach, reach + 1)}
    heights = {min(side, max(lowest, 2 * h + d)) for d in range(-reach, reach + 1)}
    return max((_match(big, small, cw, ch), direction, cw, ch) for cw in widths for ch in heights)


def _match(big: np.ndarray, small: np.ndarray, w: int, h: int) -> float:
    template = cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA)
    if template.std() < 1:
        return -1.0
    return float(cv2.matchTemplate(big, template, cv2.TM_CCOEFF_NORMED).max())


def _smooth(thumb: np.ndarray) -> np.ndarray:
    # Sub-pixel misalignment must not matter: compare what survives a slight blur.
    return cv2.GaussianBlur(thumb.astype(np.float32), (0, 0), 1.0)


# ---------------------------------------------------------------- the index


@dataclass(frozen=True)
class StoredPhoto:
    """Where a stored photo was used: never its file name."""

    key: int
    case_id: str
    submission_id: str
    photo_id: str
    member_id: str
    fingerprint: Fingerprint


class PhotoSource(Protocol):
    """Where the index reads stored fingerprints (the database, in the service)."""

    def codes_after(self, key: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys int64 ascending, codes uint64 n x CODES_PER_PHOTO, means float32 n x
        CODES_PER_PHOTO, NaN where not stored) of rows with key > `key`."""

    def photos(self, keys: Sequence[int]) -> list[StoredPhoto]:
        """The stored photos with these keys."""


@dataclass
class Candidate:
    key: int
    distance: int
    directions: tuple[int, ...] = (0, 1)  # for `similarity`: which photo may be the crop


class PhotoHashIndex:
    """Hashes of every stored photo, searchable by Hamming distance in milliseconds.

    Each kind of code (frames, windows) is split into bins by the mean grey level it was made
    from: a copy keeps its brightness, so a query code searches only the bins within
    `_BRIGHTNESS_MARGIN` of its own mean (two of sixteen, for most), plus codes stored without
    a mean. The search stays exhaustive within those bins."""

    def __init__(self, source: PhotoSource | None = None, threads: int = 1) -> None:
        import faiss  # imported here: only the service and the benchmark build an index

        faiss.omp_set_num_threads(threads)
        self.source = source
        self._frames = _BrightnessBins(faiss)
        self._windows = _BrightnessBins(faiss)
        self._keys = np.zeros(0, np.int64)
        self._lock = threading.Lock()
        self.last_key = 0

    def __len__(self) -> int:
        return int(self._keys.shape[0])

    def add(self, keys: np.ndarray, codes: np.ndarray, means: np.ndarray | None = None) -> None:
        """Index these photos; `means` (n x CODES_PER_PHOTO, NaN or None where unknown)."""
        keys = np.asarray(keys, np.int64)
        codes = np.asarray(codes, np.uint64).reshape(len(keys), CODES_PER_PHOTO)
        if len(keys) == 0:
            return
        means = (np.full(codes.shape, np.nan, np.float32) if means is None
                 else np.asarray(means, np.float32).reshape(codes.shape))
        with self._lock:
            rows = np.arange(len(self._keys), len(self._keys) + len(keys), dtype=np.int64)
            self._frames.add(codes[:, 0], means[:, 0], rows)
            self._windows.add(codes[:, 1:].reshape(-1), means[:, 1:].reshape(-1),
                              np.repeat(rows, CODES_PER_PHOTO - 1))
            self._keys = np.concatenate([self._keys, keys])
            self.last_key = max(self.last_key, int(keys.max()))

    def sync(self, batch: int = 200_000) -> int:
        """Read what the source stored since the last sync (other workers' saves too)."""
        if self.source is None:
            return 0
        added = 0
        while True:
            keys, codes, means = self.source.codes_after(self.last_key, batch)
            self.add(keys, codes, means)
            added += len(keys)
            if len(keys) < batch:
                return added

    def candidates(self, print_: Fingerprint, max_distance: int, limit: int) -> list[Candidate]:
        """Stored photos whose hashes lie within `max_distance` bits, nearest first."""
        if len(self) == 0:
            return []
        radius = max_distance + 1  # FAISS keeps distances strictly below the radius
        query_codes = _query_codes(print_)
        query_means = (np.full(len(query_codes), np.nan, np.float32) if print_.means is None
                       else print_.means[:len(query_codes)])
        with self._lock:
            # The query's frame against stored windows: the query may be a crop (direction 1).
            _, window_rows, window_distances = self._windows.search(
                query_codes[:1], query_means[:1], radius)
            # The query's frame and windows against stored frames: frame to frame says nothing
            # about the crop (-1); a query window means the stored photo may be one (0).
            query, frame_rows, frame_distances = self._frames.search(query_codes, query_means,
                                                                     radius)
            rows = np.concatenate([window_rows, frame_rows])
            keys = self._keys[rows] if rows.size else np.zeros(0, np.int64)
        if keys.size == 0:
            return []
        distances = np.concatenate([window_distances, frame_distances])
        directions = np.concatenate([np.full(len(window_rows), 1), np.where(query == 0, -1, 0)])
        order = np.lexsort((distances, keys))  # by key, nearest first within a key
        keys, distances, directions = keys[order], distances[order], directions[order]
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        keys, distances, directions = keys[first], distances[first], directions[first]
        nearest = np.argsort(distances, kind="stable")[:limit]
        return [Candidate(int(keys[i]), int(distances[i]),
                          (0, 1) if directions[i] < 0 else (int(directions[i]),))
                for i in nearest]


_BINS = 256 // _BIN_WIDTH
_UNKNOWN_BIN = _BINS  # codes stored without a mean: every query searches them


def _bins_of(means: np.ndarray) -> np.ndarray:
    bins = np.clip(np.nan_to_num(means, nan=-1.0) // _BIN_WIDTH, 0, _BINS - 1).astype(np.int64)
    return np.where(np.isnan(means), _UNKNOWN_BIN, bins)


def _bins_to_search(mean: float) -> range:
    if np.isnan(mean):
        return range(_BINS + 1)
    low = int(np.clip((mean - _BRIGHTNESS_MARGIN) // _BIN_WIDTH, 0, _BINS - 1))
    high = int(np.clip((mean + _BRIGHTNESS_MARGIN) // _BIN_WIDTH, 0, _BINS - 1))
    return range(low, high + 1)


class _BrightnessBins:
    """One FAISS binary index per brightness bin, and the photo row of every code."""

    def __init__(self, faiss) -> None:  # type: ignore[no-untyped-def]
        self._parts = [faiss.IndexBinaryFlat(64) for _ in range(_BINS + 1)]
        self._rows = [np.zeros(0, np.int64) for _ in range(_BINS + 1)]

    def add(self, codes: np.ndarray, means: np.ndarray, rows: np.ndarray) -> None:
        bins = _bins_of(means)
        for bin_ in np.unique(bins):
            chosen = bins == bin_
            self._parts[bin_].add(_as_bytes(codes[chosen]))
            self._rows[bin_] = np.concatenate([self._rows[bin_], rows[chosen]])

    def search(self, codes: np.ndarray, means: np.ndarray, radius: int,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, photo row, distance) of every code within `radius` - 1 bits."""
        asking: dict[int, list[int]] = {}
        for index, mean in enumerate(means):
            for bin_ in [*_bins_to_search(float(mean)), _UNKNOWN_BIN]:
                asking.setdefault(bin_, []).append(index)
        found_query, found_rows, found_distances = [], [], []
        for bin_, queries in asking.items():
            if self._parts[bin_].ntotal == 0:
                continue
            chosen = np.array(sorted(set(queries)), dtype=np.int64)
            limits, distances, positions = self._parts[bin_].range_search(
                _as_bytes(codes[chosen]), radius)
            found_query.append(np.repeat(chosen, np.diff(limits).astype(np.int64)))
            found_rows.append(self._rows[bin_][positions])
            found_distances.append(distances)
        if not found_query:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        return (np.concatenate(found_query), np.concatenate(found_rows),
                np.concatenate(found_distances))


def _as_bytes(codes: np.ndarray) -> np.ndarray:
    """uint64 codes -> n x 8 uint8 rows in big-endian bit order, as FAISS wants them."""
    return np.ascontiguousarray(np.asarray(codes, dtype=">u8")).view(np.uint8).reshape(-1, 8)


@dataclass
class Match:
    photo: StoredPhoto
    distance: int
    similarity: float


@dataclass
class DuplicateFinder:
    """Candidates from the index, confirmed on the thumbnails."""

    index: PhotoHashIndex
    max_distance: int = 16
    min_similarity: float = 0.915
    limit: int = 8

    def matches(self, print_: Fingerprint,
                exclude: Callable[[StoredPhoto], bool] = lambda photo: False) -> list[Match]:
        found = self.index.candidates(print_, self.max_distance, self.limit)
        if not found or self.index.source is None:
            return []
        by_key = {candidate.key: candidate for candidate in found}
        confirmed = []
        for photo in self.index.source.photos(list(by_key)):
            if exclude(photo):
                continue
            candidate = by_key[photo.key]
            match = confirm(print_, photo.fingerprint, self.min_similarity, candidate.directions)
            if match is not None:
                confirmed.append(Match(photo, candidate.distance, match))
        return sorted(confirmed, key=lambda match: -match.similarity)


def confirm(a: Fingerprint, b: Fingerprint, min_similarity: float,
            directions: tuple[int, ...] = (0, 1)) -> float | None:
    """The similarity of two photos if they are the same photo, else None."""
    if not _same_thumbnail(a, b) and _rough_correlation(a.thumb, b.thumb, directions) < _ROUGH_MIN:
        return None  # cheap rejection of hash collisions between unrelated photos
    score = similarity(a, b, directions)
    return score if score >= min_similarity else None


_ROUGH_MIN = 0.3


def _same_thumbnail(a: Fingerprint, b: Fingerprint) -> bool:
    """Identical thumbnails: the exhaustive crop search would find the whole frame at a
    correlation of 1.0 (to float rounding) after ~2 ms of template matching."""
    return a.thumb.shape == b.thumb.shape and np.array_equal(a.thumb, b.thumb)


def _rough_correlation(a: np.ndarray, b: np.ndarray, directions: tuple[int, ...]) -> float:
    """Correlation of 8 x 8 block means, whole thumbnails or one against the other's windows.

    No alignment beyond the windows: cheap, and a crop of ~10% keeps it high even on
    repetitive textures, whose whole-frame block means shift with the crop."""
    whole_a, whole_b = _block_means(a), _block_means(b)
    pairs = [(whole_a, whole_b)]
    if 0 in directions:  # b may be a crop of a
        pairs += [(window, whole_b) for window in _window_block_means(a)]
    if 1 in directions:
        pairs += [(whole_a, window) for window in _window_block_means(b)]
    return max(_correlation(x, y) for x, y in pairs)


def _block_means(thumb: np.ndarray) -> np.ndarray:
    return cv2.resize(thumb, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()


def _window_block_means(thumb: np.ndarray) -> list[np.ndarray]:
    size = round(THUMB_SIDE * WINDOW_SIZE)
    return [_block_means(thumb[round(THUMB_SIDE * oy):round(THUMB_SIDE * oy) + size,
                               round(THUMB_SIDE * ox):round(THUMB_SIDE * ox) + size])
            for oy, ox in WINDOW_OFFSETS]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm > 0 else 0.0


class MemorySource:
    """A PhotoSource held in memory (the benchmark, and tests of the index)."""

    def __init__(self) -> None:
        self._photos: dict[int, StoredPhoto] = {}
        self._codes: list[tuple[int, np.ndarray]] = []

    def put(self, photo: StoredPhoto) -> None:
        self._photos[photo.key] = photo
        self._codes.append((photo.key, photo.fingerprint.codes))

    def codes_after(self, key: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys = [k for k, _ in self._codes if k > key][:limit]
        return (np.array(keys, np.int64),
                *stacked_codes([(self._photos[k].fingerprint.codes,
                                 self._photos[k].fingerprint.means) for k in keys]))

    def photos(self, keys: Iterable[int]) -> list[StoredPhoto]:
        return [self._photos[key] for key in keys if key in self._photos]


def stacked_codes(rows: Sequence[tuple[np.ndarray, np.ndarray | None]],
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint64 n x CODES_PER_PHOTO, means float32 n x CODES_PER_PHOTO, NaN if unknown)
    from (codes, means or None) per photo."""
    if not rows:
        return (np.zeros((0, CODES_PER_PHOTO), np.uint64),
                np.zeros((0, CODES_PER_PHOTO), np.float32))
    unknown = np.full(CODES_PER_PHOTO, np.nan, np.float32)
    return (np.stack([codes for codes, _ in rows]),
            np.stack([unknown if means is None else means for _, means in rows]))


FINGERPRINT_KEY = "fingerprint"


def photo_fingerprint(photo: PreparedPhoto) -> Fingerprint | None:
    """The photo's fingerprint, computed once per request (None if it did not decode)."""
    if photo.image is None:
        return None
    return photo.derive(FINGERPRINT_KEY, lambda p: fingerprint(p.image))
