"""Text in photos: where it is and what it says, read once per photo.

RapidOCR's PP-OCRv4 models (ONNX, shipped inside the `rapidocr_onnxruntime` wheel, Apache-2.0)
do the work; this module drives them directly rather than through `RapidOCR.__call__`, because
speed comes from two levers that wrapper does not expose: the detector runs on a copy of the
working image whose long side is `det_max_side` (512 px by default, ~4x fewer pixels than
the 1000-px working image), and recognition runs only on the regions found, the largest
`max_regions` of them, cropped from the working image (1000 px, ~2x the detector's scale),
or, with `read_max_side` > 0, from the upload decoded again at that long side (2000 px: JPEG
draft at 1/2 scale for 12 MP), which only photos with text pay for.

Every check that needs text calls `read_text(photo, engine)`: the first call per photo runs
the OCR (`photo.derive("ocr", ...)`), later calls get the same regions (and the detector's features, `text_features`). The engine itself is
built once per service with `ocr_engine(context)` (`CheckContext.shared("ocr", ...)`), from the
`[models.ocr]` settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from moderation.schemas import ModelRef

if TYPE_CHECKING:
    from moderation.checks.base import CheckContext
    from moderation.intake import PreparedPhoto

OCR_KEY = "ocr"


class OcrOptions(BaseModel):
    """`[models.ocr]` in settings."""

    model_config = ConfigDict(extra="forbid")

    det_max_side: int = Field(512, ge=160, le=2048,
                              description="long side (px) of the image the text detector sees")
    det_threshold: float = Field(0.3, gt=0, lt=1, description="per-pixel text probability")
    box_threshold: float = Field(0.5, gt=0, lt=1, description="mean probability of a region")
    unclip_ratio: float = Field(1.6, gt=0)
    max_regions: int = Field(8, ge=1, description="largest regions read; the rest are kept unread")
    max_lookalikes: int = Field(2, ge=1, description=(
        "regions of one size and shape read at most this often (a tiled mark repeats itself)"))
    min_confidence: float = Field(0.6, ge=0, le=1,
                                  description="recognition confidence below which text is dropped")
    rec_batch: int = Field(8, ge=1)
    det_model: Literal["int8", "fused", "wheel"] = Field("fused", description=(
        "the text detector: the wheel's graph as shipped (\"wheel\"), the same weights with "
        "its affine and hard-swish ops fused (\"fused\", same outputs to 1e-4, ~25% less CPU), "
        "or the static INT8 copy made by `python -m models.quantize` (\"int8\")"))
    threads: int = Field(1, ge=1, le=64, description="ONNX Runtime intra-op threads")
    read_max_side: int = Field(0, ge=0, le=8192, description=(
        "when the detector finds text, recognition reads it from the upload decoded again at "
        "this long side (JPEG: the DCT scale reaching it), not from the working image; "
        "0: from the working image"))
    features: bool = Field(True, description=(
        "the text detector also outputs its stride-16 features (models/text_features.py), "
        "which the watermark head (watermark 2.x, promoted) scores: same pass, ~nothing more; "
        "the \"fused\" and \"wheel\" detectors only (\"int8\" gives none)"))


@dataclass(frozen=True)
class TextFeatures:
    """The text detector's stride-16 features of one photo (`models.text_features`), and its
    backbone's stride-8 tensor from the same pass."""

    values: np.ndarray  # (channels, rows, cols) float32
    input_size: tuple[int, int]  # (width, height) of the detector's input
    image_size: tuple[int, int]  # (width, height) of the image it was made from
    backbone8: np.ndarray | None = None  # (96, 2 * rows, 2 * cols) float32


@dataclass(frozen=True)
class TextRegion:
    """One line of text found in a photo, in working-image pixels."""

    x: int
    y: int
    w: int
    h: int
    quad: tuple[tuple[int, int], ...]  # four corners, clockwise from top-left (rotated text)
    text: str  # "" when the region was found but not read (beyond max_regions, or unsure)
    confidence: float  # recognition confidence; 0 when not read
    det_score: float  # mean text probability inside the region

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.w, self.y + self.h


class OcrEngine:
    """The PP-OCRv4 detector and recognizer, loaded once."""

    name = "rapidocr-ppocrv4"

    def __init__(self, options: OcrOptions | None = None) -> None:
        # Imported here so that importing this module stays cheap for code that only needs
        # TextRegion (and so a missing wheel surfaces as a clear error when the engine loads).
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

        from models.onnx_runtime import cpu_session

        self.options = options or OcrOptions()
        self.version = getattr(rapidocr_onnxruntime, "__version__", None) or _package_version()
        model_dir = Path(rapidocr_onnxruntime.__file__).parent / "models"
        session_config = {"intra_op_num_threads": self.options.threads, "inter_op_num_threads": 1}
        # The INT8 graph's tensors of the same names differ from the fp32 ones by ~40% (measured):
        # not the features the watermark head learnt, so it gives none.
        self.gives_features = self.options.features and self.options.det_model != "int8"
        detector = detector_model(self.options.det_model, model_dir)
        if self.gives_features:
            from models.text_features import with_feature_output

            raw = detector if isinstance(detector, bytes) else Path(detector).read_bytes()
            detector = with_feature_output(raw)
        self._detector = cpu_session(detector, self.options.threads)
        self._detector_input = self._detector.get_inputs()[0].name
        self._postprocess = DBPostProcess(
            thresh=self.options.det_threshold, box_thresh=self.options.box_threshold,
            max_candidates=1000, unclip_ratio=self.options.unclip_ratio, use_dilation=True,
            score_mode="fast")
        self._recognizer = TextRecognizer({
            **session_config, "model_path": str(model_dir / "ch_PP-OCRv4_rec_infer.onnx"),
            "rec_batch_num": self.options.rec_batch, "rec_img_shape": [3, 48, 320]})
        # RapidOCR's sessions cannot be told to let idle threads sleep: ours replaces its own.
        self._recognizer.session.session = cpu_session(
            model_dir / "ch_PP-OCRv4_rec_infer.onnx", self.options.threads)

    @property
    def model(self) -> ModelRef:
        read = f"-read{self.options.read_max_side}" if self.options.read_max_side else ""
        suffix = "" if self.options.det_model == "wheel" else f"-{self.options.det_model}"
        return ModelRef(name=self.name,
                        version=f"{self.version}-det{self.options.det_max_side}{read}{suffix}")

    def read(self, image: np.ndarray,
             detail: Callable[[], np.ndarray | None] | None = None) -> list[TextRegion]:
        """Text regions of an RGB uint8 image, largest first, in its pixels. `detail`, asked
        only when there is text to read, gives the same frame larger (or None): the text is
        read from it."""
        return self.read_with_features(image, detail)[0]

    def read_with_features(self, image: np.ndarray,
                           detail: Callable[[], np.ndarray | None] | None = None,
                           ) -> tuple[list[TextRegion], TextFeatures | None]:
        """`read`, and the detector's features of the same pass (None unless
        `options.features`)."""
        quads, det_scores, features = self.detect_with_features(image)
        order = sorted(range(len(quads)), key=lambda i: -_quad_area(quads[i]))
        to_read = self._worth_reading([quads[i] for i in order], order)
        source, read_quads = image, [quads[i] for i in to_read]
        larger = detail() if detail is not None and read_quads else None
        if larger is not None:
            scale = np.array([larger.shape[1] / image.shape[1], larger.shape[0] / image.shape[0]],
                             dtype=np.float32)
            source, read_quads = larger, [quad * scale for quad in read_quads]
        texts = self.recognize(source, read_quads)
        recognised = dict(zip(to_read, texts))
        regions = []
        for index in order:
            text, confidence = recognised.get(index, ("", 0.0))
            if confidence < self.options.min_confidence:
                text, confidence = "", 0.0
            regions.append(region_of(quads[index], text.strip(), confidence, det_scores[index]))
        return regions, features

    def _worth_reading(self, quads: list[np.ndarray], indices: list[int]) -> list[int]:
        """The largest regions, skipping repeats of one size (the tiles of a tiled mark)."""
        chosen: list[int] = []
        seen: dict[tuple[int, int], int] = {}
        for quad, index in zip(quads, indices):
            shape = _shape_key(quad)
            if seen.get(shape, 0) >= self.options.max_lookalikes:
                continue
            seen[shape] = seen.get(shape, 0) + 1
            chosen.append(index)
            if len(chosen) == self.options.max_regions:
                break
        return chosen

    def detect(self, image: np.ndarray, max_side: int | None = None,
               ) -> tuple[list[np.ndarray], list[float]]:
        """Text regions; `max_side` shows the detector another input size than
        `det_max_side` (its features then differ from the watermark head's)."""
        quads, scores, _ = self.detect_with_features(image, max_side)
        return quads, scores

    def detect_with_features(self, image: np.ndarray, max_side: int | None = None,
                             ) -> tuple[list[np.ndarray], list[float], TextFeatures | None]:
        height, width = image.shape[:2]
        factor = (max_side or self.options.det_max_side) / max(height, width)
        det_w = max(32, int(round(width * factor / 32)) * 32)
        det_h = max(32, int(round(height * factor / 32)) * 32)
        # The area filter keeps 1-px strokes that a faster bilinear shrink drops (measured:
        # one more missed tiled mark and one more false PHI flag in bench/watermark_bench.py).
        small = cv2.resize(image, (det_w, det_h), interpolation=cv2.INTER_AREA)
        batch = (small.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        outputs = self._detector.run(None, {self._detector_input: batch})
        quads, scores = self._postprocess(outputs[0], (height, width))
        features = (TextFeatures(outputs[1][0], (det_w, det_h), (width, height), outputs[2][0])
                    if self.gives_features else None)
        return ([_clockwise(np.asarray(q, dtype=np.float32)) for q in quads],
                [float(s) for s in scores], features)

    def recognize(self, image: np.ndarray, quads: list[np.ndarray]) -> list[tuple[str, float]]:
        if not quads:
            return []
        crops = [_crop(image, quad) for quad in quads]
        results, _ = self._recognizer(crops)
        return [(str(text), float(score)) for text, score, *_ in results]


def detector_model(variant: str, model_dir: Path) -> Path | bytes:
    """The text detector's ONNX model (a file, or bytes built in memory) for `det_model`."""
    from models.text_features import DETECTOR_FILE

    source = model_dir / DETECTOR_FILE
    if variant == "wheel":
        return source
    from models import quantize

    if variant == "int8":
        return quantize.int8_model("ocr-det")
    return quantize.fused_ocr_det(source)


_ENGINES: dict[str, OcrEngine] = {}
_ENGINES_LOCK = threading.Lock()


def ocr_engine(context: CheckContext) -> OcrEngine:
    """The service's one OCR engine, built on first use from `[models.ocr]`."""
    options = OcrOptions.model_validate(context.settings.models.get("ocr", {}))
    return context.shared(OCR_KEY, lambda: cached_engine(options))


def cached_engine(options: OcrOptions) -> OcrEngine:
    """One engine per configuration per process (apps, CLI runs and tests in one process
    share it: it keeps no state between photos)."""
    key = options.model_dump_json()
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = OcrEngine(options)
        return _ENGINES[key]


def read_text(photo: PreparedPhoto, engine: OcrEngine) -> list[TextRegion]:
    """The photo's text regions, computed once per photo and shared by every check."""
    return _ocr_pass(photo, engine)[0]


def text_features(photo: PreparedPhoto, engine: OcrEngine) -> TextFeatures | None:
    """The detector's features from the photo's one OCR pass (None without an image or
    without `[models.ocr] features`)."""
    return _ocr_pass(photo, engine)[1]


def _ocr_pass(photo: PreparedPhoto,
              engine: OcrEngine) -> tuple[list[TextRegion], TextFeatures | None]:
    def compute(prepared: PreparedPhoto) -> tuple[list[TextRegion], TextFeatures | None]:
        if prepared.image is None:
            return [], None
        side = engine.options.read_max_side
        detail = (lambda: prepared.detail_image(side)) if side else None
        return engine.read_with_features(prepared.image, detail)
    return photo.derive(OCR_KEY, compute)


# ---------------------------------------------------------------- helpers

def _package_version() -> str:
    from importlib.metadata import version
    return version("rapidocr_onnxruntime")


def _clockwise(quad: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    by_x = quad[np.argsort(quad[:, 0])]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1])]
    top_right, bottom_right = right[np.argsort(right[:, 1])]
    return np.array([top_left, top_right, bottom_right, bottom_left], dtype=np.float32)


def _shape_key(quad: np.ndarray) -> tuple[int, int]:
    """Width and height on a log scale (~10% steps): equal for the tiles of one mark."""
    width = np.linalg.norm(quad[0] - quad[1])
    height = np.linalg.norm(quad[0] - quad[3])
    return int(np.log(max(width, 1.0)) * 10), int(np.log(max(height, 1.0)) * 10)


def _quad_area(quad: np.ndarray) -> float:
    return float(cv2.contourArea(quad.astype(np.float32)))


def on_one_line(a: tuple[float, float, float, float], b: tuple[float, float, float, float],
                max_gap: float = 1.0) -> bool:
    """Whether two text boxes (left, top, right, bottom) sit on one line: overlapping by half
    the smaller height, at most `max_gap` line heights apart."""
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    gap = max(a[0], b[0]) - min(a[2], b[2])
    return (overlap >= 0.5 * min(a[3] - a[1], b[3] - b[1])
            and gap <= max_gap * max(a[3] - a[1], b[3] - b[1]))


def region_of(quad: np.ndarray, text: str, confidence: float, det_score: float) -> TextRegion:
    """The region of a detected quad (float corners, in any order)."""
    quad = _clockwise(np.asarray(quad, dtype=np.float32))
    xs, ys = quad[:, 0], quad[:, 1]
    x0, y0 = int(np.floor(xs.min())), int(np.floor(ys.min()))
    x1, y1 = int(np.ceil(xs.max())), int(np.ceil(ys.max()))
    corners = tuple((int(round(px)), int(round(py))) for px, py in quad)
    return TextRegion(x=x0, y=y0, w=max(1, x1 - x0), h=max(1, y1 - y0), quad=corners,
                      text=text, confidence=round(confidence, 4), det_score=round(det_score, 4))


def _crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quad cut out and straightened; tall crops (vertical text) turned to lie flat."""
    quad = quad.astype(np.float32)
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    width, height = max(width, 2), max(height, 2)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                               flags=cv2.INTER_CUBIC)
    if height / width >= 1.5:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)
