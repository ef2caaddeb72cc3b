"""Collage detection: a small learned model plus straight-seam image analysis.

`CollageNet` looks at a 160 x 160 squashed copy of the photo (RGB and its horizontal and
vertical gradients). Besides a global branch it averages its feature map along each column
and along each row: a seam that spans the image survives that average, a straight edge that
stops half-way is diluted. `find_seams` measures the same thing explicitly on a 480-px copy:
uniform separator bands and abrupt steps that run the full height (or width) of the photo, or
of one half of it, and gives their positions for the evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from models.registry import ModelVersion
from moderation import imaging

INPUT_SIDE = 160
ANALYSIS_SIDE = 480


# ---------------------------------------------------------------- the learned model


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class CollageNet(nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(5, width // 2, 2),        # 80
            _block(width // 2, width, 2),    # 40
            _block(width, width, 1),
            _block(width, 2 * width, 2),     # 20
            _block(2 * width, 2 * width, 1),
        )
        channels = 2 * width
        self.columns = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(inplace=True))
        self.rows = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(4 * channels, 64), nn.ReLU(inplace=True), nn.Dropout(0.2),
                                  nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        overall = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        half = f.shape[2] // 2
        # Means over full columns/rows, and over each half (one large panel beside two small).
        column_profiles = [f.mean(dim=2), f[:, :, :half].mean(dim=2), f[:, :, half:].mean(dim=2)]
        row_profiles = [f.mean(dim=3), f[:, :, :, :half].mean(dim=3), f[:, :, :, half:].mean(dim=3)]
        columns = torch.stack([self.columns(p).amax(dim=2) for p in column_profiles]).amax(dim=0)
        rows = torch.stack([self.rows(p).amax(dim=2) for p in row_profiles]).amax(dim=0)
        return self.head(torch.cat([overall, columns, rows], dim=1)).squeeze(1)


def preprocess(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (any size) -> float32 5 x 160 x 160: RGB and |d/dx|, |d/dy| of grey."""
    return features(shrink(image))


def shrink(image: np.ndarray) -> np.ndarray:
    # The area filter the model was trained with (not imaging.shrink: its scores would move).
    return cv2.resize(image, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)


def features(small: np.ndarray) -> np.ndarray:
    rgb = small.astype(np.float32) / 255.0
    grey = rgb.mean(axis=2)
    dx = np.zeros_like(grey)
    dy = np.zeros_like(grey)
    dx[:, 1:-1] = np.abs(grey[:, 2:] - grey[:, :-2])
    dy[1:-1, :] = np.abs(grey[2:, :] - grey[:-2, :])
    stacked = np.concatenate([(rgb - 0.5) / 0.25, dx[..., None] * 4, dy[..., None] * 4], axis=2)
    return np.ascontiguousarray(stacked.transpose(2, 0, 1))


class CollageModel:
    """Inference on CPU: ONNX Runtime on a copy of the trained network exported in memory (the
    default; ~1/3 less CPU than TorchScript for the 4-view batch, outputs equal to ~1e-6), or
    a frozen TorchScript copy (`backend="torchscript"`)."""

    def __init__(self, weights: Path, threads: int = 1, backend: str = "onnxruntime") -> None:
        network = CollageNet()
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        network.eval()
        example = torch.zeros(1, 5, INPUT_SIDE, INPUT_SIDE)
        self.threads = threads
        if backend == "onnxruntime":
            self._run = _onnx_logits(network, example, threads)
        elif backend == "torchscript":
            with torch.inference_mode():
                self.network = torch.jit.freeze(torch.jit.trace(network, example))
            self._run = self._torchscript_logits
        else:
            raise ValueError(f"unknown collage model backend {backend}: onnxruntime or torchscript")

    def probabilities(self, images: list[np.ndarray], flips: bool = True) -> np.ndarray:
        """P(collage) per image; with `flips`, the mean logit over the image and its mirror
        images (a mirrored collage is a collage: four views for the price of one batch)."""
        inputs = np.stack([preprocess(image) for image in images])
        if flips:
            inputs = np.concatenate([inputs, inputs[:, :, :, ::-1], inputs[:, :, ::-1, :],
                                     inputs[:, :, ::-1, ::-1]])
        logits = self._run(np.ascontiguousarray(inputs, dtype=np.float32)).astype(np.float64)
        logits = logits.reshape(-1, len(images)).mean(axis=0)
        return 1.0 / (1.0 + np.exp(-logits))

    def _torchscript_logits(self, batch: np.ndarray) -> np.ndarray:
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                return self.network(torch.from_numpy(batch)).numpy()
        finally:
            torch.set_num_threads(previous)


def _onnx_logits(network: nn.Module, example: torch.Tensor,
                 threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """`network` exported to ONNX in memory (any batch size) and run by ONNX Runtime."""
    import io
    import warnings

    from models.onnx_runtime import cpu_session

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes about its legacy path
        torch.onnx.export(network, (example,), buffer, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)
    session = cpu_session(buffer.getvalue(), threads)
    return lambda batch: session.run(None, {"x": batch})[0]


# ---------------------------------------------------------------- seam analysis


@dataclass(frozen=True)
class Seam:
    """A straight seam in working-image pixels: a vertical one runs at x = position."""

    orientation: str  # "vertical" or "horizontal"
    position: float
    start: float
    end: float
    kind: str  # "band" (a uniform separator) or "edge" (panels that abut)
    strength: float  # 0..1, share of the seam's length that shows the discontinuity

    def as_line(self) -> tuple[float, float, float, float]:
        if self.orientation == "vertical":
            return self.position, self.start, self.position, self.end
        return self.start, self.position, self.end, self.position


_BAND_STD = 6.0          # grey levels: a separator band is flat along its length
_MIN_STEP = 18.0         # grey levels (summed over RGB) for a row to show a step
_EDGE_SHARE = 0.72       # share of rows (or columns) that must show the step
_MARGIN = 0.04           # seams this close to the border are frames, not seams


def analysis_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The float32 copy (long side at most ANALYSIS_SIDE) the seam analysis reads, and its
    scale factor."""
    height, width = image.shape[:2]
    factor = min(1.0, ANALYSIS_SIDE / max(height, width))
    small = image if factor == 1.0 else imaging.shrink(
        image, (max(8, round(width * factor)), max(8, round(height * factor))))
    return small.astype(np.float32), factor


Steps = dict[str, tuple[np.ndarray, np.ndarray]]


def oriented_steps(small: np.ndarray) -> Steps:
    """`_steps` across columns ("vertical" seams) and across rows ("horizontal" ones) of the
    analysis copy, computed once for the seams and the layout contrast."""
    return {orientation: _steps(array) for orientation, array in _oriented(small)}


def _oriented(small: np.ndarray) -> tuple[tuple[str, np.ndarray], ...]:
    return ("vertical", small), ("horizontal", small.transpose(1, 0, 2))


def find_seams(image: np.ndarray, analysed: tuple[np.ndarray, float] | None = None,
               steps: Steps | None = None) -> list[Seam]:
    """Full-length (or half-length) straight seams of a composite, strongest first."""
    height, width = image.shape[:2]
    small, factor = analysed if analysed is not None else analysis_copy(image)
    seams = []
    for orientation, array in _oriented(small):
        for kind, lo, hi, position, strength in _scan(
                array, None if steps is None else steps[orientation]):
            seams.append(Seam(orientation, position / factor, lo / factor, hi / factor,
                              kind, strength))
    return _supported(_merge(seams, max(height, width) * 0.01), width, height)


def _supported(seams: list[Seam], width: int, height: int) -> list[Seam]:
    """Half-length seams only where a full-length seam crosses near the middle (one large
    panel beside two small ones); elsewhere a half-length straight line is scenery."""
    def full(seam: Seam) -> bool:
        length = height if seam.orientation == "vertical" else width
        return seam.end - seam.start >= 0.9 * length

    kept = []
    for seam in seams:
        if full(seam):
            kept.append(seam)
            continue
        across = width if seam.orientation == "horizontal" else height
        if any(full(other) and other.orientation != seam.orientation
               and abs(other.position - across / 2) <= 0.15 * across for other in seams):
            kept.append(seam)
    return kept


def _scan(array: np.ndarray, steps: tuple[np.ndarray, np.ndarray] | None = None,
          ) -> list[tuple[str, int, int, float, float]]:
    """Seams across the first axis of `array` (rows x columns x RGB): all of it or one half."""
    rows, columns = array.shape[:2]
    if rows < 16 or columns < 16:
        return []
    margin = max(2, int(columns * _MARGIN))
    step, beside = steps if steps is not None else _steps(array)
    shows = ((step > _MIN_STEP) & (step > 1.8 * beside)).astype(np.float32)
    grey = (array[..., 0] + array[..., 1] + array[..., 2]) / 3
    found: list[tuple[str, int, int, float, float]] = []
    for lo, hi in ((0, rows), (0, rows // 2), (rows // 2, rows)):
        spread = grey[lo:hi].std(axis=0)
        found += [("band", lo, hi, position, 1.0) for position in _bands(spread, margin)]
        share = shows[lo:hi].mean(axis=0)
        peaks = np.flatnonzero(share >= _EDGE_SHARE)
        for i in peaks:
            centre = i + 1
            if margin <= centre < columns - margin and share[i] >= share[max(0, i - 1): i + 2].max():
                found.append(("edge", lo, hi, centre + 0.5, float(share[i])))
    return found


def _steps(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the colour step across each column (summed over RGB, centred on i + 1) and the
    larger of the steps 3 columns either side."""
    # Channels added one by one: numpy's reduction over a last axis of 3 is ~6x slower.
    difference = np.abs(array[:, 2:] - array[:, :-2])
    step = difference[..., 0] + difference[..., 1] + difference[..., 2]
    padded = np.pad(step, ((0, 0), (3, 3)), mode="edge")
    return step, np.maximum(padded[:, :-6], padded[:, 6:])


_LAYOUT_CUTS = ((0.5,), (1 / 3, 2 / 3))  # where people cut panels: halves, thirds
_LAYOUT_WINDOW = 0.03  # of the side: gutters and borders move the cut a little


def layout_contrast(small: np.ndarray, steps: Steps | None = None) -> tuple[float, float]:
    """How clearly the photo steps all along its length at the places people cut panels (the
    middle, or both thirds), relative to the steps just beside: the median over rows of the step
    over the step 3 px away. Panels that abut with little contrast (two shots of one sky) still
    step there on almost every row; a scene's own edges rarely run the full length at exactly
    those places. Returns that contrast (the best layout) and its lead over the strongest such
    line elsewhere in the photo, as a difference of log1p (brick courses, tiles and shelves step
    in many places, a cut between panels in one). (0, 0) for photos too small to measure."""
    best, lead = 0.0, 0.0
    for orientation, array in _oriented(small):
        rows, columns = array.shape[:2]
        if rows < 16 or columns < 16:
            continue
        step, beside = steps[orientation] if steps is not None else _steps(array)
        ratio = _upper_median(step) / (_upper_median(beside) + 3.0)
        margin = max(2, int(columns * _MARGIN))
        for cuts in _LAYOUT_CUTS:
            values = []
            elsewhere = np.ones(len(ratio), bool)
            elsewhere[:margin] = elsewhere[len(ratio) - margin:] = False
            for cut in cuts:
                centre = cut * columns - 1  # step index i is centred on column i + 1
                lo = max(0, int(centre - _LAYOUT_WINDOW * columns))
                hi = min(len(ratio), int(centre + _LAYOUT_WINDOW * columns) + 1)
                values.append(float(ratio[lo:hi].max()) if hi > lo else 0.0)
                elsewhere[lo:hi] = False
            value = min(values)
            if value > best:
                best = value
                other = float(ratio[elsewhere].max()) if elsewhere.any() else 0.0
                lead = float(np.log1p(value) - np.log1p(other))
    return best, lead


def _upper_median(values: np.ndarray) -> np.ndarray:
    """Per column, the upper median over rows (a partition: ~4x faster than np.median)."""
    middle = values.shape[0] // 2
    return np.partition(values, middle, axis=0)[middle]


def _bands(spread: np.ndarray, margin: int) -> list[float]:
    """Centres of narrow runs of flat columns with textured columns on both sides."""
    columns = spread.shape[0]
    flat = spread < _BAND_STD
    edges = np.flatnonzero(np.diff(flat.astype(np.int8)))
    starts = [e + 1 for e in edges if not flat[e]]
    centres = []
    for start in starts:
        end = start
        while end + 1 < columns and flat[end + 1]:
            end += 1
        if (start >= margin and end < columns - margin and end - start + 1 <= columns * 0.1
                and end + 2 < columns and spread[start - 2] > 2 * _BAND_STD
                and spread[end + 2] > 2 * _BAND_STD):
            centres.append((start + end + 1) / 2)
    return centres


def _merge(seams: list[Seam], tolerance: float) -> list[Seam]:
    """One seam per place: a full-length one wins over its halves, a band over an edge."""
    ordered = sorted(seams, key=lambda s: (-(s.end - s.start), s.kind != "band", -s.strength))
    kept: list[Seam] = []
    for seam in ordered:
        if any(other.orientation == seam.orientation
               and abs(other.position - seam.position) <= tolerance
               and other.start <= seam.start + tolerance and other.end >= seam.end - tolerance
               for other in kept):
            continue
        kept.append(seam)
    return sorted(kept, key=lambda s: -s.strength)


def panel_boxes(width: int, height: int, seams: list[Seam]) -> list[tuple[float, float, float, float]]:
    """The panels the seams cut the photo into, as (x, y, w, h) in working pixels."""
    full_vertical = sorted(s.position for s in seams if s.orientation == "vertical"
                           and s.end - s.start >= 0.9 * height)
    xs = [0.0, *full_vertical, float(width)]
    boxes = []
    for x0, x1 in zip(xs, xs[1:]):
        cuts = sorted(s.position for s in seams if s.orientation == "horizontal"
                      and s.start <= x0 + 0.02 * width and s.end >= x1 - 0.02 * width)
        ys = [0.0, *cuts, float(height)]
        boxes.extend((x0, y0, x1 - x0, y1 - y0) for y0, y1 in zip(ys, ys[1:]))
    return boxes if len(boxes) > 1 else []


def full_length_bands(seams: list[Seam], width: int, height: int) -> list[Seam]:
    """Uniform separator bands that cross the whole photo: the mark of a gutter."""
    return [s for s in seams if s.kind == "band"
            and s.end - s.start >= 0.9 * (height if s.orientation == "vertical" else width)]


def combined_score(probability: float, seams: list[Seam], width: int, height: int,
                   band_score: float) -> float:
    """The model's probability, raised to `band_score` when a full-length gutter is found."""
    if full_length_bands(seams, width, height):
        return max(probability, band_score)
    return probability


def combiner_features(probability: float, seams: list[Seam], width: int, height: int,
                      contrast: tuple[float, float] = (0.0, 0.0)) -> dict[str, float]:
    """What the combiner weighs, by name: the model's logit, a full-length gutter, the most
    full-length parallel seams, the strongest abrupt full-length seam, and whether one or two
    parallel full-length seams cut the photo into equal panels (halves or thirds: the layouts
    people make; brick courses and shelves come many at a time and anywhere).

    Since 1.6.0 also: `cuts`, the most parallel cuts, where the seams of one gutter (its band
    and the edges on either side of it) count once; `equal_cuts`, whether one or two such cuts
    make equal panels; `layout_contrast` and `layout_lead` (`layout_contrast(analysis copy)`,
    the contrast as log1p)."""
    p = min(max(probability, 1e-6), 1 - 1e-6)
    full = [s for s in seams
            if s.end - s.start >= 0.9 * (height if s.orientation == "vertical" else width)]
    parallel = max((sum(s.orientation == o for s in full) for o in ("vertical", "horizontal")),
                   default=0)
    strongest = max((s.strength for s in full if s.kind == "edge"), default=0.0)
    cuts = {o: _cuts(full, o, width if o == "vertical" else height)
            for o in ("vertical", "horizontal")}
    return {"model_logit": float(np.log(p / (1 - p))),
            "full_band": float(bool(full_length_bands(seams, width, height))),
            "parallel_seams": float(parallel), "strongest_edge": float(strongest),
            "equal_panels": float(_equal_panels(full, width, height)),
            "cuts": float(max(len(c) for c in cuts.values())),
            "equal_cuts": float(any(_equal(c) for c in cuts.values())),
            "layout_contrast": float(np.log1p(contrast[0])), "layout_lead": float(contrast[1])}


_GUTTER_SPAN = 0.035  # of the side: seams this close together are one gutter's


def _cuts(full: list[Seam], orientation: str, side: int) -> list[float]:
    """Relative positions of the cuts: parallel full-length seams, one per gutter."""
    clusters: list[list[float]] = []
    for position in sorted(s.position / side for s in full if s.orientation == orientation):
        if clusters and position - clusters[-1][-1] <= _GUTTER_SPAN:
            clusters[-1].append(position)
        else:
            clusters.append([position])
    return [(c[0] + c[-1]) / 2 for c in clusters]


def _equal(positions: list[float]) -> bool:
    if not 1 <= len(positions) <= 2:
        return False
    expected = [(k + 1) / (len(positions) + 1) for k in range(len(positions))]
    return all(abs(a - b) <= _EQUAL_PANEL_TOLERANCE for a, b in zip(positions, expected))


_EQUAL_PANEL_TOLERANCE = 0.03  # of the side: borders and gutters move seams a little


def _equal_panels(full: list[Seam], width: int, height: int) -> bool:
    for orientation, side in (("vertical", width), ("horizontal", height)):
        positions = sorted(s.position / side for s in full if s.orientation == orientation)
        if 1 <= len(positions) <= 2:
            expected = [(k + 1) / (len(positions) + 1) for k in range(len(positions))]
            if all(abs(a - b) <= _EQUAL_PANEL_TOLERANCE for a, b in zip(positions, expected)):
                return True
    return False


class Combiner:
    """The calibrated logistic combination of the model and the seams (`combiner.json`, which
    names the features it was fitted on)."""

    def __init__(self, path: Path) -> None:
        import json

        fitted = json.loads(path.read_text())
        self.features: list[str] = fitted["features"]
        self.weights = np.array(fitted["weights"], dtype=np.float64)

    def score(self, probability: float, seams: list[Seam], width: int, height: int,
              contrast: tuple[float, float] = (0.0, 0.0)) -> float:
        values = combiner_features(probability, seams, width, height, contrast)
        x = np.array([values[name] for name in self.features])
        return float(1 / (1 + np.exp(-(self.weights[0] + x @ self.weights[1:]))))


class CollageScorer:
    """What the `collage` check computes per photo: (score, model probability, seams).

    With a calibrated `combiner.json` in the model version, the score is the combiner's;
    without one, the model's probability raised to `band_score` by a full-length gutter."""

    def __init__(self, version: ModelVersion, band_score: float = 0.9, threads: int = 1,
                 backend: str = "onnxruntime") -> None:
        self.model = CollageModel(version.path("collage.pt"), threads=threads, backend=backend)
        self.combiner = (Combiner(version.path("combiner.json"))
                         if "combiner.json" in version.files else None)
        self.band_score = band_score

    def score(self, image: np.ndarray) -> tuple[float, float, list[Seam]]:
        probability = float(self.model.probabilities([image])[0])
        analysed = analysis_copy(image)
        steps = oriented_steps(analysed[0])
        seams = find_seams(image, analysed, steps)
        height, width = image.shape[:2]
        if self.combiner is not None:
            contrast = (layout_contrast(analysed[0], steps)
                        if {"layout_contrast", "layout_lead"} & set(self.combiner.features)
                        else (0.0, 0.0))
            return (self.combiner.score(probability, seams, width, height, contrast),
                    probability, seams)
        return combined_score(probability, seams, width, height, self.band_score), probability, seams
