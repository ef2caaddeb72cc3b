"""Seeded builder of watermark training and test images: real photos with synthetic marks.

A sample is one real photograph (`datasets.sample_photos`), cropped, flipped and re-toned,
with (label 1) one or more watermarks or practice logos laid over it, or (label 0) nothing or a
hard negative that is *not* a watermark drawn into the scene: a ruler or measuring tape, a
printed gown, jewellery, a tattoo, surgical skin markings. Marks are text in several fonts,
sizes, colours, opacities (down to 15%) and rotations, simple vector logos with or without
text, in a corner, at the centre, along an edge, or tiled over the whole photo. Each sample
knows its marks (kind, placement, opacity, box, text) and a per-pixel mark mask, which the
learned detector is trained to reproduce at a coarse stride.

`burned_in_phi_sample` makes the other set this issue needs: photos with identifiers burned
into the pixels (camera date stamps, name labels, wristbands, chart stickers).

With `derived_rate`, that share of the scenes is made from the set's own photos instead of a
crop of one (`derived_background`: textures, blends, fractal noise), for backgrounds the photos
do not show. With `scene_text_rate`, that share of the samples also shows text that belongs to
the scene (`draw_scene_text`: a name badge, a printed sign, lettering on clothing), opaque and
lit like the scene: a hard negative for a detector that starts from a text detector's features.
Both draw from their own random streams, so a set without them is the set it always was.

Everything is a function of (seed, index): the same call gives the same pixels.
"""

from __future__ import annotations

import argparse
import io
import math
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from datasets import sample_photos
from datasets.fonts import FONT_FILES, MONOSPACE, font

MARK_KINDS = ("practice_text", "url", "copyright", "phone", "logo", "logo_text", "tiled_text",
              "tiled_logo")
NEGATIVE_KINDS = ("ruler", "tape", "gown", "jewellery", "tattoo", "skin_marking")
SCENE_TEXT_FORMS = ("badge", "sign", "clothing")
PLACEMENTS = ("corner", "centre", "edge")
OPACITY_BANDS = ((0.15, 0.30), (0.30, 0.50), (0.50, 1.01))
# How much a mark changes the photo (mean luminance change over its pixels, grey levels):
# opacity alone does not say how visible it is (white at 30 % on a white wall shows nothing).
CONTRAST_BANDS = ((0, 8), (8, 16), (16, 32), (32, 64), (64, 256))

_SURNAMES = ("Smith", "Patel", "Nguyen", "Garcia", "Kim", "Rossi", "Okafor", "Larsen", "Haddad",
             "Moreau", "Silva", "Cohen", "Tanaka", "Novak", "Brennan", "Alvarez", "Weiss", "Osei")
_GIVEN = ("Anna", "James", "Maria", "David", "Sofia", "Omar", "Elena", "Lucas", "Priya", "Noah",
          "Grace", "Mateo", "Hannah", "Yusuf", "Clara", "Ethan")
_PRACTICE_WORDS = ("Plastic Surgery", "Aesthetics", "Cosmetic Surgery", "Aesthetic Institute",
                   "Facial Plastics", "Body Contouring", "Skin & Laser", "MedSpa",
                   "Surgical Arts", "Beauty Clinic", "Plastic & Reconstructive")
_BRANDS = ("Bella Vita", "Elite", "Lumina", "Serenity", "Aurora", "Radiance", "Pure Form",
           "Sculpt", "Harmony", "Nova", "Elevate", "Contour", "Belle")
_CITIES = ("Miami", "Austin", "Beverly Hills", "Denver", "Seattle", "Chicago", "Boston", "Tampa")
_TLDS = (".com", ".net", ".clinic", ".md", ".co.uk")


@dataclass
class Mark:
    kind: str  # one of MARK_KINDS
    placement: str  # corner, centre, edge, tiled
    opacity: float
    box: tuple[int, int, int, int]  # x, y, w, h in the sample's pixels
    text: str | None = None
    contrast: float = 0.0  # mean |luminance change| over the mark's pixels, 0..255

    @property
    def opacity_band(self) -> str:
        for low, high in OPACITY_BANDS:
            if low <= self.opacity < high:
                return f"{int(low * 100)}-{min(100, int(high * 100))}%"
        return "other"

    @property
    def contrast_band(self) -> str:
        return band_of_contrast(self.contrast)


def band_of_contrast(contrast: float) -> str:
    """The band of CONTRAST_BANDS a luminance change (0..255) falls in, e.g. "8-16"."""
    for low, high in CONTRAST_BANDS:
        if low <= contrast < high:
            return f"{low}-{min(high, 255)}"
    return f"{CONTRAST_BANDS[-1][0]}-255"


@dataclass
class Sample:
    image: np.ndarray  # RGB uint8
    mask: np.ndarray  # float32 in [0, 1]: where marks are
    marks: list[Mark]
    negatives: list[str]
    background: str
    phi_texts: list[str] = field(default_factory=list)
    phi_form: str = ""

    @property
    def label(self) -> int:
        return int(bool(self.marks))

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label, "background": self.background, "negatives": self.negatives,
            "marks": [{"kind": m.kind, "placement": m.placement, "opacity": round(m.opacity, 3),
                       "box": list(m.box), "text": m.text} for m in self.marks],
        }


def share(text: str) -> float:
    """argparse type of the builder's rate options (--scene-text-rate, --derived-backgrounds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a share is a number, 0..1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share is 0..1, not {value}")
    return value


class WatermarkSynth:
    """`sample(i)` is the i-th image of the set named by (photos, seed)."""

    def __init__(self, photos: list[sample_photos.SamplePhoto], seed: int, *,
                 long_side: tuple[int, int] = (448, 448), positive_rate: float = 0.5,
                 negative_rate: float = 0.5, jpeg_quality: tuple[int, int] = (70, 95),
                 derived_rate: float = 0.0, scene_text_rate: float = 0.0,
                 mark_weights: dict[str, float] | None = None) -> None:
        if not photos:
            raise ValueError("a watermark set needs at least one background photo")
        for name, rate in (("derived_rate", derived_rate), ("scene_text_rate", scene_text_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} is a share, 0..1, not {rate}")
        self.photos = photos
        self.seed = seed
        self.long_side = long_side
        self.positive_rate = positive_rate
        self.negative_rate = negative_rate
        self.jpeg_quality = jpeg_quality
        self.derived_rate = derived_rate
        self.scene_text_rate = scene_text_rate
        self.mark_odds = mark_odds(mark_weights)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index])

    def _photo(self, rng: np.random.Generator) -> sample_photos.SamplePhoto:
        return self.photos[int(rng.integers(len(self.photos)))]  # sample i's first draw

    def background_of(self, index: int) -> str:
        """The name of the photo under sample `index`, without rendering it."""
        return self._photo(self.rng(index)).name

    def sample(self, index: int, *, marked: bool | None = None) -> Sample:
        rng = self.rng(index)
        photo = self._photo(rng)
        image = background(sample_photos.load(photo.name), rng, int(rng.integers(*self.long_side, endpoint=True)))
        if self.derived_rate:
            # its own stream, so that a set without derived scenes draws what it always drew
            derived_rng = np.random.default_rng([self.seed, index, DERIVED_STREAM])
            if derived_rng.random() < self.derived_rate:
                image = derived_background(image, self.photos, derived_rng)
        canvas = Image.fromarray(image)
        negatives: list[str] = []
        if rng.random() < self.negative_rate:
            for _ in range(1 + int(rng.random() < 0.25)):
                kind = str(rng.choice(NEGATIVE_KINDS))
                canvas = draw_negative(canvas, kind, rng)
                negatives.append(kind)
        if self.scene_text_rate:
            text_rng = np.random.default_rng([self.seed, index, SCENE_TEXT_STREAM])
            if text_rng.random() < self.scene_text_rate:
                canvas = draw_scene_text(canvas, text_rng)
                negatives.append("scene_text")
        mask = np.zeros(image.shape[:2], dtype=np.float32)
        marks: list[Mark] = []
        if marked if marked is not None else rng.random() < self.positive_rate:
            for _ in range(1 + int(rng.random() < 0.2)):
                kind = rng.choice(MARK_KINDS, p=self.mark_odds) if self.mark_odds is not None \
                    else rng.choice(MARK_KINDS)  # drawn as before: the same samples as ever
                canvas, mark, alpha = draw_mark(canvas, str(kind), rng)
                marks.append(mark)
                mask = np.maximum(mask, alpha)
        canvas = finish(canvas, rng, self.jpeg_quality)
        return Sample(np.asarray(canvas), mask, marks, negatives, photo.name)


def mark_odds(weights: dict[str, float] | None) -> np.ndarray | None:
    """The chance of each of MARK_KINDS from relative weights (a kind not named weighs 1), or
    None for the even draw every set used before weights existed."""
    if not weights:
        return None
    unknown = sorted(set(weights) - set(MARK_KINDS))
    if unknown:
        raise ValueError(f"unknown mark kinds {', '.join(unknown)}: the kinds are "
                         f"{', '.join(MARK_KINDS)}")
    if any(not 0 <= weight < math.inf for weight in weights.values()):
        raise ValueError("mark weights are finite and not negative")
    odds = np.array([weights.get(kind, 1.0) for kind in MARK_KINDS], dtype=float)
    if odds.sum() <= 0:
        raise ValueError("at least one mark kind needs a weight above 0")
    return odds / odds.sum()


# ---------------------------------------------------------------- backgrounds

def background(photo: np.ndarray, rng: np.random.Generator, long_side: int) -> np.ndarray:
    """A random crop of a real photo, flipped and re-toned, at `long_side` px."""
    height, width = photo.shape[:2]
    aspect = float(rng.choice([4 / 3, 3 / 4, 1.0, 3 / 2, 2 / 3]))
    area = rng.uniform(0.35, 1.0) * height * width
    crop_w = int(min(width, math.sqrt(area * aspect)))
    crop_h = int(min(height, crop_w / aspect))
    x0 = int(rng.integers(0, width - crop_w + 1))
    y0 = int(rng.integers(0, height - crop_h + 1))
    crop = photo[y0 : y0 + crop_h, x0 : x0 + crop_w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    scale = long_side / max(crop.shape[:2])
    size = (max(32, round(crop.shape[1] * scale)), max(32, round(crop.shape[0] * scale)))
    image = Image.fromarray(np.ascontiguousarray(crop)).resize(size, Image.Resampling.BICUBIC)
    toned = np.asarray(image).astype(np.float32)
    gain = rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, size=3)
    toned = (toned - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-25, 25)
    return np.clip(toned * gain, 0, 255).astype(np.uint8)


DERIVED_STREAM = 1
SCENE_TEXT_STREAM = 2
DERIVED_KINDS = ("texture", "blend", "noise")


def derived_background(image: np.ndarray, photos: list[sample_photos.SamplePhoto],
                       rng: np.random.Generator) -> np.ndarray:
    """A new scene of `image`'s size made from the set's own photos, for scenes the photos do
    not show (issue 4's misses: faint marks over texture and haze): `texture` tiles a small
    patch of a photo, mirrored, into an even texture; `blend` lays a second photo over this one
    at 30-70 %; `noise` colours fractal (1/f) noise with a photo's own colours."""
    kind = str(rng.choice(DERIVED_KINDS))
    other = sample_photos.load(photos[int(rng.integers(len(photos)))].name)
    painter = {"texture": _texture, "blend": _blend, "noise": _fractal_noise}[kind]
    return painter(image, other, rng)


def _blend(image: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    layer = Image.fromarray(background(other, rng, max(height, width)))
    layer = np.asarray(layer.resize((width, height), Image.Resampling.BILINEAR))
    share = rng.uniform(0.3, 0.7)
    return (image * (1 - share) + layer * share).astype(np.uint8)


def _texture(image: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    side = int(min(other.shape[:2]) * rng.uniform(0.08, 0.25))
    y0 = int(rng.integers(0, other.shape[0] - side + 1))
    x0 = int(rng.integers(0, other.shape[1] - side + 1))
    shown = max(16, int(min(height, width) * rng.uniform(0.1, 0.3)))
    patch = np.asarray(Image.fromarray(other[y0 : y0 + side, x0 : x0 + side]).resize(
        (shown, shown), Image.Resampling.BICUBIC))
    tile = np.concatenate([patch, patch[::-1]], axis=0)  # mirrored: no seams between tiles
    tile = np.concatenate([tile, tile[:, ::-1]], axis=1)
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])


def _fractal_noise(image: np.ndarray, other: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    spectrum = np.fft.fft2(rng.normal(size=(height, width)))
    frequency = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    frequency[0, 0] = np.inf  # no constant term
    falloff = frequency ** -rng.uniform(0.4, 1.4)  # from gravel-like grain to cloud-like haze
    field = np.real(np.fft.ifft2(spectrum * falloff))
    field = (field - field.min()) / max(1e-6, float(np.ptp(field)))
    palette = other.reshape(-1, 3)[rng.integers(0, other.shape[0] * other.shape[1], 2)]
    mixed = palette[0] * (1 - field[..., None]) + palette[1] * field[..., None]
    return np.clip(mixed + rng.normal(0, 4, mixed.shape), 0, 255).astype(np.uint8)


def finish(canvas: Image.Image, rng: np.random.Generator,
           quality: tuple[int, int]) -> Image.Image:
    """Sensor noise and a JPEG round trip, as an uploaded photo has."""
    array = np.asarray(canvas).astype(np.float32)
    array += rng.normal(0, rng.uniform(0.5, 3.0), array.shape)
    canvas = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=int(rng.integers(*quality, endpoint=True)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


# ---------------------------------------------------------------- marks

def practice_name(rng: np.random.Generator) -> str:
    surname = str(rng.choice(_SURNAMES))
    choice = rng.integers(6)
    if choice == 0:
        return f"{surname} {rng.choice(_PRACTICE_WORDS)}"
    if choice == 1:
        return f"Dr. {rng.choice(_GIVEN)} {surname}"
    if choice == 2:
        return f"{rng.choice(_BRANDS)} {rng.choice(_PRACTICE_WORDS)}"
    if choice == 3:
        return f"Dr. {surname}, MD"
    if choice == 4:
        return f"{rng.choice(_BRANDS)} {rng.choice(_PRACTICE_WORDS)} {rng.choice(_CITIES)}"
    return f"{surname} {rng.choice(_PRACTICE_WORDS)} | {rng.choice(_CITIES)}"


def mark_text(kind: str, rng: np.random.Generator) -> str:
    surname = str(rng.choice(_SURNAMES)).lower()
    if kind == "url":
        stem = rng.choice([f"dr{surname}", f"{surname}plastics", f"{surname}aesthetics",
                           str(rng.choice(_BRANDS)).lower().replace(" ", "") + "clinic"])
        prefix = rng.choice(["www.", "", "https://www."])
        return f"{prefix}{stem}{rng.choice(_TLDS)}" if rng.random() < 0.85 else f"@{stem}"
    if kind == "copyright":
        return str(rng.choice([f"© {rng.integers(2015, 2027)} {practice_name(rng)}",
                               f"© {practice_name(rng)}", f"(c) {practice_name(rng)}",
                               f"{practice_name(rng)} ®"]))
    if kind == "phone":
        number = (f"({rng.integers(201, 990)}) {rng.integers(200, 999)}-"
                  f"{rng.integers(1000, 9999)}")
        return str(rng.choice([number, f"Call {number}", f"{practice_name(rng)}  {number}"]))
    return practice_name(rng)


def draw_mark(canvas: Image.Image, kind: str,
              rng: np.random.Generator) -> tuple[Image.Image, Mark, np.ndarray]:
    """Lay one mark over the photo; return the photo, the mark and its alpha (0..1)."""
    width, height = canvas.size
    short = min(width, height)
    opacity = _opacity(rng)
    colour = _mark_colour(np.asarray(canvas), rng)
    tiled = kind.startswith("tiled")
    if kind in ("logo", "tiled_logo"):
        text = None
        glyph = logo(int(short * rng.uniform(0.10, 0.22) if not tiled else short * 0.12), colour,
                     rng, with_text=False)
    elif kind == "logo_text":
        text = practice_name(rng)
        glyph = logo_with_text(int(short * rng.uniform(0.08, 0.16)), text, colour, rng)
    else:
        text = mark_text("practice_text" if kind == "tiled_text" else kind, rng)
        glyph = text_glyph(text, int(short * rng.uniform(0.035, 0.09)), colour, rng)
    if tiled:
        layer, placement = tile(glyph, (width, height), rng), "tiled"
    else:
        layer, placement = place(glyph, (width, height), rng)
    alpha = np.asarray(layer.getchannel("A")).astype(np.float32) / 255.0
    layer.putalpha(Image.fromarray((alpha * opacity * 255).astype(np.uint8)))
    composite = Image.alpha_composite(canvas.convert("RGBA"), layer).convert("RGB")
    box = _bounding_box(alpha)
    mark = Mark(kind, placement, opacity, box, text, luminance_change(canvas, composite, alpha))
    return composite, mark, (alpha > 0.1).astype(np.float32)


def luminance_change(before: Image.Image, after: Image.Image, alpha: np.ndarray) -> float:
    """Mean absolute change in luminance (grey levels) where the mark lies (alpha > 0.1)."""
    x, y, w, h = _bounding_box(alpha)
    if not w:
        return 0.0
    # only the mark's box is converted: the whole photo costs ~7 ms a mark in every sample
    window = (x, y, x + w, y + h)
    inside = alpha[y:y + h, x:x + w] > 0.1
    old = np.asarray(before.crop(window).convert("L"), dtype=np.int16)[inside]
    new = np.asarray(after.crop(window).convert("L"), dtype=np.int16)[inside]
    return float(np.abs(new - old).mean())


def _opacity(rng: np.random.Generator) -> float:
    # Faint marks are the hard, common case: half of them at 15-35%.
    return float(rng.uniform(0.15, 0.35) if rng.random() < 0.5 else rng.uniform(0.35, 0.95))


def _mark_colour(image: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int]:
    choice = rng.random()
    if choice < 0.45:
        return (255, 255, 255)
    if choice < 0.7:
        return (0, 0, 0)
    if choice < 0.85:
        grey = int(rng.integers(90, 200))
        return (grey, grey, grey)
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # a brand colour


def text_glyph(text: str, size: int, colour: tuple[int, int, int],
               rng: np.random.Generator) -> Image.Image:
    """Text on a transparent layer; sometimes with an outline or a second line."""
    face = font(str(rng.choice(list(FONT_FILES))), max(8, size))
    if "©" in text or "®" in text:  # not every font has these
        face = font(str(rng.choice(["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf"])),
                    max(8, size))
    if rng.random() < 0.3:
        text = text.upper()
    lines = [text]
    if rng.random() < 0.15 and " " in text:
        head, _, tail = text.partition(" ")
        lines = [head, tail]
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [probe.textbbox((0, 0), line, font=face) for line in lines]
    line_h = max(b[3] - b[1] for b in boxes) + size // 4
    width = max(b[2] - b[0] for b in boxes) + size
    layer = Image.new("RGBA", (max(4, width), max(4, line_h * len(lines) + size // 2)))
    draw = ImageDraw.Draw(layer)
    stroke = int(rng.integers(1, 3)) if rng.random() < 0.2 else 0
    for i, line in enumerate(lines):
        draw.text((size // 2, size // 4 + i * line_h), line, font=face, fill=colour + (255,),
                  stroke_width=stroke, stroke_fill=(0, 0, 0, 255) if colour == (255, 255, 255)
                  else (255, 255, 255, 255))
    return layer


def logo(size: int, colour: tuple[int, int, int], rng: np.random.Generator,
         with_text: bool = True) -> Image.Image:
    """A simple vector logo: ring, shield, leaf, swoosh, diamond or star, maybe a monogram."""
    size = max(16, size)
    scale = 4  # drawn large, then reduced: smooth edges
    big = size * scale
    layer = Image.new("RGBA", (big, big))
    draw = ImageDraw.Draw(layer)
    fill = colour + (255,)
    width = max(2, big // int(rng.integers(10, 20)))
    shape = str(rng.choice(["ring", "shield", "leaf", "swoosh", "diamond", "star", "face"]))
    pad = big // 10
    if shape == "ring":
        draw.ellipse([pad, pad, big - pad, big - pad], outline=fill, width=width)
        if rng.random() < 0.5:
            draw.ellipse([pad * 3, pad * 3, big - pad * 3, big - pad * 3], outline=fill,
                         width=max(1, width // 2))
    elif shape == "shield":
        points = [(pad, pad), (big - pad, pad), (big - pad, big // 2), (big // 2, big - pad),
                  (pad, big // 2)]
        draw.polygon(points, outline=fill, width=width) if rng.random() < 0.6 else \
            draw.polygon(points, fill=fill)
    elif shape == "leaf":
        draw.chord([pad, pad * 2, big - pad, big - pad], 200, 340, fill=fill)
        draw.chord([pad, pad, big - pad, big - pad * 2], 20, 160, fill=fill)
    elif shape == "swoosh":
        for offset in range(0, width * 2, max(1, width // 2)):
            draw.arc([pad, pad + offset, big - pad, big - pad + offset], 200, 340, fill=fill,
                     width=width)
    elif shape == "diamond":
        mid = big // 2
        draw.polygon([(mid, pad), (big - pad, mid), (mid, big - pad), (pad, mid)], outline=fill,
                     width=width)
        draw.polygon([(mid, pad * 3), (big - pad * 3, mid), (mid, big - pad * 3), (pad * 3, mid)],
                     fill=fill)
    elif shape == "star":
        mid, points = big / 2, []
        for k in range(10):
            radius = (big / 2 - pad) * (1.0 if k % 2 == 0 else 0.45)
            angle = math.pi / 5 * k - math.pi / 2
            points.append((mid + radius * math.cos(angle), mid + radius * math.sin(angle)))
        draw.polygon(points, fill=fill)
    else:  # a profile line, as aesthetic practices draw
        points = [(big * 0.55, pad), (big * 0.45, big * 0.3), (big * 0.3, big * 0.45),
                  (big * 0.42, big * 0.5), (big * 0.38, big * 0.62), (big * 0.45, big * 0.7),
                  (big * 0.42, big * 0.8), (big * 0.55, big - pad)]
        draw.line(points, fill=fill, width=width, joint="curve")
    if with_text and rng.random() < 0.6:
        letters = "".join(rng.choice(list(string.ascii_uppercase), size=int(rng.integers(1, 4))))
        face = font(str(rng.choice(["DejaVuSerif-Bold.ttf", "DejaVuSans-Bold.ttf",
                                    "STIXGeneralBol.ttf"])), big // 3)
        draw.text((big // 2, big // 2), letters, font=face, fill=fill, anchor="mm")
    return layer.resize((size, size), Image.Resampling.LANCZOS)


def logo_with_text(size: int, text: str, colour: tuple[int, int, int],
                   rng: np.random.Generator) -> Image.Image:
    mark = logo(size, colour, rng)
    words = text_glyph(text, max(8, int(size * rng.uniform(0.3, 0.5))), colour, rng)
    if rng.random() < 0.5:  # beside
        layer = Image.new("RGBA", (mark.width + words.width, max(mark.height, words.height)))
        layer.alpha_composite(mark, (0, (layer.height - mark.height) // 2))
        layer.alpha_composite(words, (mark.width, (layer.height - words.height) // 2))
    else:  # below
        layer = Image.new("RGBA", (max(mark.width, words.width), mark.height + words.height))
        layer.alpha_composite(mark, ((layer.width - mark.width) // 2, 0))
        layer.alpha_composite(words, ((layer.width - words.width) // 2, mark.height))
    return layer


def place(glyph: Image.Image, size: tuple[int, int],
          rng: np.random.Generator) -> tuple[Image.Image, str]:
    width, height = size
    placement = str(rng.choice(PLACEMENTS, p=[0.55, 0.3, 0.15]))
    if placement == "centre" and rng.random() < 0.5:
        glyph = glyph.rotate(float(rng.uniform(-40, 40)), expand=True,
                             resample=Image.Resampling.BICUBIC)
        if glyph.width < width * 0.4:
            factor = width * rng.uniform(0.4, 0.8) / glyph.width
            glyph = glyph.resize((int(glyph.width * factor), int(glyph.height * factor)),
                                 Image.Resampling.LANCZOS)
    glyph = _fit(glyph, (int(width * 0.95), int(height * 0.95)))
    margin_x, margin_y = int(width * rng.uniform(0.01, 0.05)), int(height * rng.uniform(0.01, 0.05))
    free_x, free_y = max(0, width - glyph.width), max(0, height - glyph.height)
    if placement == "corner":
        x = min(margin_x, free_x) if rng.random() < 0.5 else max(0, free_x - margin_x)
        y = min(margin_y, free_y) if rng.random() < 0.5 else max(0, free_y - margin_y)
    elif placement == "centre":
        x = int(free_x / 2 + rng.uniform(-0.1, 0.1) * width)
        y = int(free_y / 2 + rng.uniform(-0.1, 0.1) * height)
    else:  # along the top or bottom edge, centred-ish
        x = int(rng.uniform(0.2, 0.8) * free_x)
        y = min(margin_y, free_y) if rng.random() < 0.3 else max(0, free_y - margin_y)
    layer = Image.new("RGBA", size)
    layer.alpha_composite(glyph, (int(np.clip(x, 0, free_x)), int(np.clip(y, 0, free_y))))
    return layer, placement


def tile(glyph: Image.Image, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """The glyph repeated on a rotated grid over the whole photo."""
    width, height = size
    angle = float(rng.choice([0.0, rng.uniform(-45, 45)]))
    glyph = _fit(glyph, (int(width * 0.45), int(height * 0.45)))
    gap_x = glyph.width + int(glyph.width * rng.uniform(0.3, 1.2))
    gap_y = glyph.height + int(glyph.height * rng.uniform(0.8, 2.5))
    diagonal = int(math.hypot(width, height)) + 2 * max(gap_x, gap_y)
    sheet = Image.new("RGBA", (diagonal, diagonal))
    for row, y in enumerate(range(0, diagonal, gap_y)):
        shift = (gap_x // 2) * (row % 2)
        for x in range(-gap_x + shift, diagonal, gap_x):
            sheet.alpha_composite(glyph, (max(0, x), y)) if x >= 0 else None
    sheet = sheet.rotate(angle, resample=Image.Resampling.BICUBIC)
    left, top = (diagonal - width) // 2, (diagonal - height) // 2
    return sheet.crop((left, top, left + width, top + height))


def _fit(glyph: Image.Image, limit: tuple[int, int]) -> Image.Image:
    factor = min(1.0, limit[0] / glyph.width, limit[1] / glyph.height)
    if factor >= 1.0:
        return glyph
    return glyph.resize((max(1, int(glyph.width * factor)), max(1, int(glyph.height * factor))),
                        Image.Resampling.LANCZOS)


def _bounding_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    inside = alpha > 0.1
    # the rows and columns that hold any of it: ~20x faster than every pixel's coordinates
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if len(rows) == 0:
        return (0, 0, 0, 0)
    return (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


# ---------------------------------------------------------------- hard negatives

def draw_negative(canvas: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """Something in the scene that is not a watermark, drawn opaque and shaded by the scene."""
    painter = {"ruler": _ruler, "tape": _tape, "gown": _gown, "jewellery": _jewellery,
               "tattoo": _tattoo, "skin_marking": _skin_marking}[kind]
    return painter(canvas, rng)


def _shade(layer: Image.Image, canvas: Image.Image, strength: float = 0.5) -> Image.Image:
    """Light the layer like the scene under it (real objects are lit; overlays are not)."""
    light = np.asarray(canvas.convert("L").filter(ImageFilter.GaussianBlur(6))).astype(np.float32)
    light = 1.0 - strength + strength * light / max(1.0, light.mean() * 1.6)
    rgb = np.asarray(layer.convert("RGB")).astype(np.float32) * light[..., None]
    shaded = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).convert("RGBA")
    shaded.putalpha(layer.getchannel("A"))
    return shaded


def _paste_rotated(canvas: Image.Image, strip: Image.Image, rng: np.random.Generator,
                   shade: float = 0.5) -> Image.Image:
    strip = strip.rotate(float(rng.uniform(-60, 60)), expand=True, resample=Image.Resampling.BICUBIC)
    strip = _fit(strip, (canvas.width, canvas.height))
    layer = Image.new("RGBA", canvas.size)
    x = int(rng.integers(-strip.width // 4, max(1, canvas.width - strip.width * 3 // 4)))
    y = int(rng.integers(-strip.height // 4, max(1, canvas.height - strip.height * 3 // 4)))
    layer.alpha_composite(strip, (max(0, x), max(0, y)))
    layer = _shade(layer, canvas, shade)
    return Image.alpha_composite(canvas.convert("RGBA"), layer).convert("RGB")


def _ruler(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    short = min(canvas.size)
    length, breadth = int(short * rng.uniform(0.5, 1.1)), int(short * rng.uniform(0.06, 0.12))
    base = tuple(int(v) for v in rng.choice([[235, 235, 225], [250, 240, 170], [200, 215, 230],
                                             [240, 240, 240]]))
    strip = Image.new("RGBA", (length, breadth), base + (255,))
    draw = ImageDraw.Draw(strip)
    step = max(3, length // int(rng.integers(25, 60)))
    face = font(str(rng.choice(["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"])), max(6, breadth // 3))
    for i, x in enumerate(range(step // 2, length, step)):
        tall = breadth // 2 if i % 10 == 0 else breadth // 3 if i % 5 == 0 else breadth // 5
        draw.line([(x, 0), (x, tall)], fill=(20, 20, 20, 255), width=1)
        if i % 10 == 0:
            draw.text((x + 2, tall), str(i // 10), font=face, fill=(20, 20, 20, 255))
    return _paste_rotated(canvas, strip, rng)


def _tape(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    short = min(canvas.size)
    length, breadth = int(short * rng.uniform(0.6, 1.3)), int(short * rng.uniform(0.04, 0.07))
    base = tuple(int(v) for v in rng.choice([[240, 210, 60], [245, 245, 245], [230, 120, 40]]))
    strip = Image.new("RGBA", (length, breadth), base + (255,))
    draw = ImageDraw.Draw(strip)
    step = max(3, length // int(rng.integers(15, 40)))
    face = font("DejaVuSans.ttf", max(6, int(breadth * 0.45)))
    for i, x in enumerate(range(0, length, step)):
        draw.line([(x, 0), (x, breadth // 3)], fill=(10, 10, 10, 255), width=1)
        if i % 2 == 0:
            draw.text((x + 1, breadth // 3), str(i + int(rng.integers(0, 100))), font=face,
                      fill=(200, 20, 20, 255) if i % 10 == 0 else (10, 10, 10, 255))
    return _paste_rotated(canvas, strip, rng, shade=0.6)


def _gown(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A printed fabric region: a repeating motif over a broad blob, shaded by the scene."""
    width, height = canvas.size
    base = tuple(int(v) for v in rng.integers(60, 230, 3))
    motif_colour = tuple(int(v) for v in rng.integers(0, 256, 3)) + (255,)
    fabric = Image.new("RGBA", (width, height), base + (255,))
    draw = ImageDraw.Draw(fabric)
    step = int(min(width, height) * rng.uniform(0.04, 0.1))
    motif = str(rng.choice(["dots", "flowers", "checks", "diamonds", "letters"]))
    letter_face = font("DejaVuSans-Bold.ttf", max(6, step // 2))
    for row, y in enumerate(range(0, height + step, step)):
        for x in range(-(step // 2) * (row % 2), width + step, step):
            r = step // 4
            if motif == "dots":
                draw.ellipse([x - r, y - r, x + r, y + r], fill=motif_colour)
            elif motif == "flowers":
                for dx, dy in ((r, 0), (-r, 0), (0, r), (0, -r)):
                    draw.ellipse([x + dx - r // 2, y + dy - r // 2, x + dx + r // 2, y + dy + r // 2],
                                 fill=motif_colour)
            elif motif == "checks":
                if (x // step + row) % 2 == 0:
                    draw.rectangle([x, y, x + step // 2, y + step // 2], fill=motif_colour)
            elif motif == "diamonds":
                draw.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=motif_colour)
            else:  # hospital-gown print: small repeated letters
                draw.text((x, y), "H", font=letter_face, fill=motif_colour)
    blob = Image.new("L", (width, height))
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.5, 1.1) * height
    rx, ry = rng.uniform(0.3, 0.7) * width, rng.uniform(0.25, 0.6) * height
    ImageDraw.Draw(blob).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    fabric.putalpha(blob.filter(ImageFilter.GaussianBlur(2)))
    fabric = _shade(fabric, canvas, 0.7)
    return Image.alpha_composite(canvas.convert("RGBA"), fabric).convert("RGB")


def _jewellery(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = canvas.size
    layer = Image.new("RGBA", (width, height))
    draw = ImageDraw.Draw(layer)
    metal = tuple(int(v) for v in rng.choice([[212, 175, 55], [192, 192, 200], [230, 200, 140]]))
    short = min(width, height)
    if rng.random() < 0.5:  # a chain along an arc
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.0, 0.5) * height
        radius = short * rng.uniform(0.2, 0.45)
        link = max(2, int(short * 0.012))
        for k in range(60):
            angle = math.pi * (0.15 + 0.7 * k / 59)
            x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
            draw.ellipse([x - link, y - link * 0.6, x + link, y + link * 0.6], outline=metal + (255,),
                         width=max(1, link // 2))
        if rng.random() < 0.5:  # pendant
            x, y = cx, cy + radius
            draw.ellipse([x - link * 3, y, x + link * 3, y + link * 6], fill=metal + (255,))
    else:  # earrings or rings: metallic circles with a highlight
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
            r = short * rng.uniform(0.02, 0.06)
            draw.ellipse([x - r, y - r, x + r, y + r], outline=metal + (255,), width=max(2, int(r / 3)))
            draw.ellipse([x - r * 0.3, y - r * 0.9, x, y - r * 0.6], fill=(255, 255, 255, 230))
            if rng.random() < 0.5:
                draw.ellipse([x - r * 0.4, y + r * 0.7, x + r * 0.4, y + r * 1.5],
                             fill=tuple(int(v) for v in rng.integers(0, 256, 3)) + (255,))
    layer = _shade(layer, canvas, 0.4)
    return Image.alpha_composite(canvas.convert("RGBA"), layer).convert("RGB")


def _ink(canvas: Image.Image, layer: Image.Image, blur: float) -> Image.Image:
    """Ink in skin: multiplied into the photo, slightly soft."""
    layer = layer.filter(ImageFilter.GaussianBlur(blur))
    alpha = np.asarray(layer.getchannel("A")).astype(np.float32)[..., None] / 255.0
    ink = np.asarray(layer.convert("RGB")).astype(np.float32) / 255.0
    photo = np.asarray(canvas).astype(np.float32)
    multiplied = photo * (1 - alpha + alpha * ink)
    return Image.fromarray(np.clip(multiplied, 0, 255).astype(np.uint8))


def _tattoo(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = canvas.size
    layer = Image.new("RGBA", (width, height))
    draw = ImageDraw.Draw(layer)
    ink = tuple(int(v) for v in rng.choice([[30, 35, 60], [20, 20, 20], [60, 30, 40]])) + (235,)
    short = min(width, height)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    size = short * rng.uniform(0.08, 0.25)
    line = max(1, int(short * rng.uniform(0.004, 0.01)))
    design = str(rng.choice(["heart", "tribal", "rose", "script", "star"]))
    if design == "heart":
        draw.ellipse([cx - size, cy - size / 2, cx, cy + size / 2], outline=ink, width=line)
        draw.ellipse([cx, cy - size / 2, cx + size, cy + size / 2], outline=ink, width=line)
        draw.polygon([(cx - size, cy), (cx + size, cy), (cx, cy + size * 1.3)], outline=ink,
                     width=line)
    elif design == "tribal":
        for k in range(5):
            draw.arc([cx - size + k * 6, cy - size / 2, cx + size - k * 6, cy + size], 180 + k * 10,
                     360 - k * 10, fill=ink, width=line * 2)
    elif design == "rose":
        for k in range(6):
            r = size * (1 - k / 7)
            draw.arc([cx - r, cy - r, cx + r, cy + r], k * 40, k * 40 + 250, fill=ink, width=line)
        draw.line([(cx, cy + size), (cx - size / 3, cy + size * 2)], fill=ink, width=line)
    elif design == "script":  # a name or word in script on skin: still not a watermark
        word = str(rng.choice(["Mom", "Forever", "Love", "Faith", str(rng.choice(_GIVEN))]))
        face = font(str(rng.choice(["DejaVuSerif-Italic.ttf", "STIXGeneralItalic.ttf"])),
                    max(8, int(size * 0.6)))
        text_layer = Image.new("RGBA", (int(size * 4), int(size * 1.2)))
        ImageDraw.Draw(text_layer).text((4, 4), word, font=face, fill=ink)
        text_layer = text_layer.rotate(float(rng.uniform(-30, 30)), expand=True,
                                       resample=Image.Resampling.BICUBIC)
        layer.alpha_composite(_fit(text_layer, (width, height)),
                              (int(max(0, cx - size)), int(max(0, cy - size / 2))))
    else:
        points = []
        for k in range(10):
            r = size * (1.0 if k % 2 == 0 else 0.45)
            angle = math.pi / 5 * k - math.pi / 2
            points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
        draw.polygon(points, outline=ink, width=line)
    return _ink(canvas, layer, blur=float(rng.uniform(0.5, 1.5)))


_SIGN_WORDS = ("EXIT", "RECOVERY", "PHARMACY", "NO ENTRY", "WAITING ROOM", "RADIOLOGY",
               "STAFF ONLY", "ROOM 14", "CAFE", "PARKING", "WARD B", "LIBRARY", "OPEN")
_CLOTHING_WORDS = ("UNIVERSITY", "ATHLETICS", "BROOKLYN", "SPORT 23", "TEAM", "VARSITY",
                   "SURF CLUB", "NEW YORK", "ACADEMY", "RUN CLUB")
_BADGE_TITLES = ("RN", "MD", "Nurse", "Surgery", "Staff", "Volunteer", "Visitor", "Anesthesia",
                 "Patient Care", "Imaging")


def draw_scene_text(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Text that is part of the scene, not laid over it: a name badge (a card with a name and
    a title), a printed sign (words on a coloured plate) or lettering on clothing (bold words
    on a broad patch of fabric). Opaque, turned, and lit like the scene: what a watermark is
    not."""
    form = str(rng.choice(SCENE_TEXT_FORMS))
    short = min(canvas.size)
    if form == "badge":
        plate = _badge(short, rng)
    elif form == "sign":
        plate = _sign(short, rng)
    else:
        return _clothing_print(canvas, rng)
    return _paste_rotated(canvas, plate, rng, shade=float(rng.uniform(0.4, 0.7)))


def _text_plate(lines: list[tuple[str, str, float]], width: int, height: int,
                paper: tuple[int, int, int], ink: tuple[int, int, int]) -> Image.Image:
    """A plate of `paper` with centred lines of (text, font file, height share) in `ink`."""
    plate = Image.new("RGBA", (width, height), paper + (255,))
    draw = ImageDraw.Draw(plate)
    y = height * 0.12
    for text, face_file, share in lines:
        face = font(face_file, max(6, int(height * share)))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=face)
        draw.text(((width - (right - left)) / 2 - left, y - top), text, font=face,
                  fill=ink + (255,))
        y += (bottom - top) + height * 0.08
    return plate


def _badge(short: int, rng: np.random.Generator) -> Image.Image:
    width = int(short * rng.uniform(0.12, 0.28))
    height = int(width * rng.uniform(0.5, 0.7))
    name = f"{rng.choice(_GIVEN)} {rng.choice(_SURNAMES)}"
    if rng.random() < 0.4:
        name = name.upper()
    bold = str(rng.choice(["DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf"]))
    title = str(rng.choice(_BADGE_TITLES))
    plate = _text_plate([(name, bold, 0.2), (title, "DejaVuSans.ttf", 0.16)],
                        width, height, (245, 245, 240), (20, 20, 30))
    stripe = tuple(int(v) for v in rng.choice([[30, 80, 160], [170, 30, 40], [20, 120, 80]]))
    ImageDraw.Draw(plate).rectangle([0, height * 0.82, width, height], fill=stripe + (255,))
    return plate


def _sign(short: int, rng: np.random.Generator) -> Image.Image:
    words = str(rng.choice(_SIGN_WORDS))
    width = int(short * rng.uniform(0.18, 0.45))
    height = int(width * rng.uniform(0.22, 0.4))
    paper, ink = [((20, 110, 60), (250, 250, 250)), ((250, 250, 250), (20, 20, 20)),
                  ((30, 60, 140), (250, 250, 250)), ((240, 200, 40), (20, 20, 20))][
        int(rng.integers(4))]
    return _text_plate([(words, "DejaVuSans-Bold.ttf", 0.55)], width, height, paper, ink)


def _clothing_print(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Bold words printed on a shirt: the fabric is a broad shaded patch, the print opaque."""
    width, height = canvas.size
    fabric_colour = tuple(int(v) for v in rng.integers(30, 230, 3))
    ink = tuple(int(v) for v in rng.choice([[250, 250, 250], [20, 20, 20], [200, 30, 40],
                                            [240, 190, 40]]))
    patch = Image.new("RGBA", (int(width * rng.uniform(0.35, 0.7)),
                               int(height * rng.uniform(0.3, 0.6))), fabric_colour + (255,))
    words = str(rng.choice(_CLOTHING_WORDS))
    face = font(str(rng.choice(["DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf"])),
                max(8, int(patch.width / max(4, len(words)) * 1.3)))
    draw = ImageDraw.Draw(patch)
    left, top, right, bottom = draw.textbbox((0, 0), words, font=face)
    draw.text(((patch.width - (right - left)) / 2 - left, patch.height * 0.3 - top), words,
              font=face, fill=ink + (255,))
    return _paste_rotated(canvas, patch, rng, shade=0.7)


def _skin_marking(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Surgical marker on skin: lines, dashes, dots, arrows, an L or R, an incision plan."""
    width, height = canvas.size
    layer = Image.new("RGBA", (width, height))
    draw = ImageDraw.Draw(layer)
    ink = tuple(int(v) for v in rng.choice([[110, 40, 150], [40, 60, 170], [20, 20, 20],
                                            [150, 40, 120]])) + (220,)
    line = max(1, int(min(width, height) * rng.uniform(0.004, 0.01)))
    for _ in range(int(rng.integers(2, 7))):
        x, y = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
        stroke = str(rng.choice(["curve", "dashed", "dots", "arrow", "letter", "ellipse"]))
        span = min(width, height) * rng.uniform(0.1, 0.4)
        if stroke == "curve":
            draw.arc([x - span, y - span / 3, x + span, y + span / 3], float(rng.uniform(0, 180)),
                     float(rng.uniform(200, 360)), fill=ink, width=line)
        elif stroke == "dashed":
            angle = rng.uniform(0, math.pi)
            for k in range(0, 12, 2):
                a = (x + math.cos(angle) * span * k / 12, y + math.sin(angle) * span * k / 12)
                b = (x + math.cos(angle) * span * (k + 1) / 12, y + math.sin(angle) * span * (k + 1) / 12)
                draw.line([a, b], fill=ink, width=line)
        elif stroke == "dots":
            for k in range(8):
                px, py = x + span * math.cos(k * 0.8) / 2, y + span * math.sin(k * 0.8) / 3
                draw.ellipse([px - line, py - line, px + line, py + line], fill=ink)
        elif stroke == "arrow":
            draw.line([(x, y), (x + span, y + span / 3)], fill=ink, width=line)
            draw.polygon([(x + span, y + span / 3), (x + span - 10, y + span / 3 - 8),
                          (x + span - 12, y + span / 3 + 6)], fill=ink)
        elif stroke == "letter":
            face = font("DejaVuSans.ttf", max(8, int(span / 3)))
            draw.text((x, y), str(rng.choice(["L", "R", "X", "1", "2", "+"])), font=face, fill=ink)
        else:
            draw.ellipse([x - span / 2, y - span / 4, x + span / 2, y + span / 4], outline=ink,
                         width=line)
    return _ink(canvas, layer, blur=float(rng.uniform(0.4, 1.2)))


# ---------------------------------------------------------------- burned-in identifiers

PHI_KINDS = ("date_stamp", "name_label", "wristband", "chart_sticker", "dob_label")
# "standard": the forms every earlier figure was measured on. "wide": the same five kinds in
# more of the forms real photos show (a bare name, capitals, two-line cards, month names,
# dotted dates, yellow and red stamps) and with names the standard set never uses; its own
# random stream, so the standard set stays what it was.
PHI_FORMS = ("standard", "wide")
STAMP_COLOURS = {"orange": (255, 150, 30), "yellow": (255, 214, 40), "red": (250, 72, 48)}


PHI_TEXT_SHARE = (0.028, 0.05)  # text height, share of the photo's short side


def burned_in_phi_sample(photos: list[sample_photos.SamplePhoto], seed: int, index: int,
                         long_side: int = 1280, forms: str = "standard",
                         text_share: tuple[float, float] = PHI_TEXT_SHARE) -> Sample:
    """A photo with an identifier burned into its pixels; `phi_texts` holds what was drawn and
    `phi_form` which form of its kind it is. `text_share`: the range of the text's height, as a
    share of the photo's short side (smaller: a label seen from across the room)."""
    if forms not in PHI_FORMS:
        raise ValueError(f"forms is one of {', '.join(PHI_FORMS)}, not {forms!r}")
    if not 0 < text_share[0] <= text_share[1] < 1:
        raise ValueError(f"text_share is a range of shares 0 < low <= high < 1, not {text_share}")
    rng = np.random.default_rng([seed, index, 7 if forms == "standard" else 8])
    photo = photos[int(rng.integers(len(photos)))]
    canvas = Image.fromarray(background(sample_photos.load(photo.name), rng, long_side))
    kind = PHI_KINDS[index % len(PHI_KINDS)]
    text, form = (_phi_text(kind, rng), "standard") if forms == "standard" else \
        _wide_phi_text(kind, rng)
    stamp_colour = STAMP_COLOURS["orange"]
    if forms == "wide" and kind == "date_stamp":
        colour_name = str(rng.choice(list(STAMP_COLOURS)))
        stamp_colour, form = STAMP_COLOURS[colour_name], f"{form} {colour_name}"
    width, height = canvas.size
    size = max(6, int(min(width, height) * rng.uniform(*text_share)))
    if kind == "date_stamp":  # a camera's stamp in the bottom-right corner
        face = font(str(rng.choice(MONOSPACE)), size)
        draw = ImageDraw.Draw(canvas)
        box = draw.textbbox((0, 0), text, font=face)
        x = width - (box[2] - box[0]) - int(width * 0.04)
        y = height - (box[3] - box[1]) - int(height * 0.05)
        draw.text((x, y), text, font=face, fill=stamp_colour)
    else:  # a paper label or band in view: dark text on a light card, anywhere
        face = font(str(rng.choice(["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"])),
                    size)
        spacing = size // 3  # between the lines of a two-line card
        probe = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=face,
                                                                 spacing=spacing)
        card = Image.new("RGBA", (probe[2] + size, probe[3] + size),
                         tuple(int(v) for v in rng.choice([[250, 250, 245], [255, 255, 255],
                                                           [235, 245, 255]])) + (255,))
        ImageDraw.Draw(card).text((size // 2, size // 3), text, font=face,
                                  fill=(20, 20, 30, 255), spacing=spacing)
        card = _fit(card.rotate(float(rng.uniform(-8, 8)), expand=True,
                                resample=Image.Resampling.BICUBIC), (int(width * 0.9), height))
        x = int(rng.integers(0, max(1, width - card.width)))
        y = int(rng.integers(0, max(1, height - card.height)))
        canvas = canvas.convert("RGBA")
        canvas.alpha_composite(card, (x, y))
        canvas = canvas.convert("RGB")
    canvas = finish(canvas, rng, (80, 95))
    return Sample(np.asarray(canvas), np.zeros((height, width), np.float32), [], [], photo.name,
                  phi_texts=[text], phi_form=form)


def _phi_text(kind: str, rng: np.random.Generator) -> str:
    given, surname = str(rng.choice(_GIVEN)), str(rng.choice(_SURNAMES))
    day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(2018, 2027))
    if kind == "date_stamp":
        return str(rng.choice([f"{month:02d}/{day:02d}/{year}", f"{year}-{month:02d}-{day:02d}",
                               f"{month:02d}/{day:02d}/{year} {rng.integers(7, 19):02d}:"
                               f"{rng.integers(0, 60):02d}", f"'{year % 100:02d} {month:02d} {day:02d}"]))
    if kind == "name_label":
        return str(rng.choice([f"Patient: {given} {surname}", f"{surname}, {given}",
                               f"Pt {given} {surname}"]))
    if kind == "wristband":
        return (f"{surname.upper()}, {given.upper()}  DOB {rng.integers(1, 13):02d}/"
                f"{rng.integers(1, 29):02d}/{rng.integers(1940, 2005)}")
    if kind == "chart_sticker":
        return f"MRN {rng.integers(10_000_000, 99_999_999)}  {given} {surname}"
    return f"DOB: {rng.integers(1, 13):02d}/{rng.integers(1, 29):02d}/{rng.integers(1940, 2005)}"


# Names the standard set never draws, so that a bare name tests the NER, not a list it was
# tuned on.
_WIDE_SURNAMES = ("Adeyemi", "Pham", "Krishnan", "Keane", "Volkov", "Mensah", "Duarte",
                  "Takahashi", "Karimi", "Nowak", "Dubois", "Begay", "Rahimi", "Costa",
                  "Boateng", "Lindqvist", "Herrera", "O'Connell")
_WIDE_GIVEN = ("Ngozi", "Thanh", "Ravi", "Siobhan", "Dmitri", "Kwame", "Ines", "Jun", "Leila",
               "Tomasz", "Chloe", "Aiyana", "Hamid", "Beatriz", "Kofi", "Astrid", "Camila",
               "Declan")


def _wide_phi_text(kind: str, rng: np.random.Generator) -> tuple[str, str]:
    """(text, form) for the wide set: each form a way such a label is written in practice."""
    given, surname = str(rng.choice(_WIDE_GIVEN)), str(rng.choice(_WIDE_SURNAMES))
    initial = str(rng.choice(list("ABCDEFGHJKLMNPRST")))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    year = int(rng.integers(2018, 2027))
    birth = f"{rng.integers(1, 13):02d}/{rng.integers(1, 29):02d}/{rng.integers(1940, 2005)}"
    month_name = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                  "DEC")[month - 1]
    record = f"{rng.integers(1_000_000, 9_999_999)}"
    forms = {
        "date_stamp": {
            "dotted": f"{year}.{month:02d}.{day:02d}",
            "day first": f"{day:02d}.{month:02d}.{year}",
            "month name": f"{month_name} {day:02d} {year}",
            "day month name": f"{day:02d} {month_name} {year}",
        },
        "name_label": {
            "bare name": f"{given} {surname}",
            "capitals": f"{given.upper()} {surname.upper()}",
            "middle initial": f"{given} {initial}. {surname}",
            "labelled capitals": f"PATIENT: {surname.upper()}, {given.upper()}",
            "name over DOB": f"{given} {surname}\nDOB {birth}",
        },
        "wristband": {
            "name and MRN": f"{surname.upper()}, {given.upper()}  MRN {record}",
            "two lines": f"{surname.upper()}, {given.upper()}\nDOB: {birth}  MR# {record}",
        },
        "chart_sticker": {
            "MR#": f"MR# {record}",
            "account and name": f"Acct# {record}  {given} {surname}",
            "name and DOS": f"{surname}, {given}  DOS {month:02d}/{day:02d}/{year}",
        },
        "dob_label": {
            "month name": f"DOB {day:02d} {month_name} {rng.integers(1940, 2005)}",
            "dotted": f"D.O.B. {birth}",
            "born": f"Born {rng.integers(1940, 2005)}-{month:02d}-{day:02d}",
        },
    }[kind]
    form = str(rng.choice(list(forms)))
    return forms[form], form
