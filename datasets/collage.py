"""Seeded builder of collage / single-photo examples made from real open photos.

A collage is what the gallery refuses: before and after side by side, angle grids of 2, 3, 4
or 6 panels, with or without gutters, outer borders and BEFORE/AFTER labels, or panels that
abut without any gutter. Singles are crops of one photo, some with a plain frame or a line of
text, and many from photos full of straight edges (tiles, grids, buildings, shelves) so that a
long straight line alone does not read as a seam. Training also sees procedurally drawn
architecture (doors, windows, tiled walls) as extra hard negatives.

Every example goes through what an upload goes through: a JPEG encode at a random quality and
size. The same seed always gives the same examples (`python -m datasets.collage --help`).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from datasets.open_photos import OpenPhoto, Split, collage_photos

LABEL_WORDS = ("BEFORE", "AFTER", "Before", "After", "PRE-OP", "POST-OP", "Pre-op", "Post-op",
               "6 months", "1 year", "PRE", "POST", "Day 1", "12 weeks")
OTHER_WORDS = ("Clinic", "Dr. Lee", "www.example-clinic.com", "Case 12", "Frontal view", "L", "R")
LAYOUTS: dict[str, tuple[int, int]] = {  # name -> (columns, rows)
    "side_by_side": (2, 1), "stacked": (1, 2), "three_across": (3, 1), "three_down": (1, 3),
    "grid_2x2": (2, 2), "grid_3x2": (3, 2), "grid_2x3": (2, 3), "one_plus_two": (2, 2),
}
LAYOUT_WEIGHTS = {"side_by_side": 0.3, "stacked": 0.1, "three_across": 0.12, "three_down": 0.04,
                  "grid_2x2": 0.16, "grid_3x2": 0.1, "grid_2x3": 0.06, "one_plus_two": 0.12}
# 2: brick walls, planks and ruled pages among the drawn singles; 3: also upright and grey;
# 4: 18 more real training photos (npm and Debian packages) and a "val" split of 6 others
VERSION = "collage-data-4"
SPLIT_STREAMS = {"train": 0, "test": 1, "val": 2}  # one random stream per split
DRAWN_SHARE = 0.35  # of the training singles (1: 0.25)
UPRIGHT_SHARE = 0.4  # of the drawn singles
GREY_SHARE = 0.3


@dataclass
class Example:
    image: np.ndarray  # RGB uint8, decoded from the JPEG an uploader would send
    label: int  # 1 collage, 0 single photo
    kind: str  # layout name, "single", "single_straight" or "drawn_architecture"
    sources: list[str]
    seams: list[dict[str, float]] = field(default_factory=list)  # relative x1,y1,x2,y2
    extras: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------- photo views


def random_view(rng: np.random.Generator, photo: np.ndarray, width: int, height: int,
                zoom: tuple[float, float] = (0.35, 1.0)) -> Image.Image:
    """A crop of `photo` with the aspect of width x height, resized to it, maybe flipped."""
    ph, pw = photo.shape[:2]
    aspect = width / height
    scale = rng.uniform(*zoom)
    crop_w = min(pw, ph * aspect) * scale
    crop_h = crop_w / aspect
    x0 = rng.uniform(0, pw - crop_w)
    y0 = rng.uniform(0, ph - crop_h)
    image = Image.fromarray(photo).resize(
        (width, height), Image.Resampling.BICUBIC,
        box=(x0, y0, x0 + crop_w, y0 + crop_h))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _jitter(rng, image, 0.15)


def _jitter(rng: np.random.Generator, image: Image.Image, amount: float) -> Image.Image:
    array = np.asarray(image).astype(np.float32)
    gain = 1 + rng.uniform(-amount, amount)
    tint = rng.uniform(-amount, amount, 3) * 40
    return Image.fromarray(np.clip(array * gain + tint, 0, 255).astype(np.uint8))


def _perturbed(rng: np.random.Generator, base: Image.Image) -> Image.Image:
    """The same subject again, as a before/after or another angle would show it."""
    w, h = base.size
    zoom = rng.uniform(0.85, 1.0)
    cw, ch = w * zoom, h * zoom
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    image = base.resize((w, h), Image.Resampling.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.25:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _jitter(rng, image, 0.2)


# ---------------------------------------------------------------- drawn hard negatives


def drawn_architecture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A wall of tiles or bricks, planks, a ruled page, a door or a window: full-length
    straight lines, not seams. Courses and planks run either way, in colour or grey."""
    upright = rng.random() < UPRIGHT_SHARE
    if upright:  # drawn lying down, then turned a quarter
        width, height = height, width
    margin_x, margin_y = width // 8, height // 8
    cw, ch = width + 2 * margin_x, height + 2 * margin_y
    wall = tuple(int(v) for v in rng.integers(60, 230, 3))
    if rng.random() < GREY_SHARE:
        wall = (wall[0],) * 3
    image = Image.new("RGB", (cw, ch), wall)
    draw = ImageDraw.Draw(image)
    kind = rng.choice(["tiles", "door", "window", "grid", "bricks", "bricks", "planks", "ruled"])
    line = tuple(int(v) for v in np.clip(np.array(wall) + rng.integers(-90, 90, 3), 0, 255))
    stroke = int(rng.integers(1, 6))
    if kind in ("tiles", "grid"):
        step_x = int(rng.integers(15, 90))
        step_y = step_x if kind == "grid" else int(rng.integers(10, 70))
        for x in range(int(rng.integers(0, step_x)), cw, step_x):
            draw.rectangle([x, 0, x + stroke, ch], fill=line)
        for y in range(int(rng.integers(0, step_y)), ch, step_y):
            draw.rectangle([0, y, cw, y + stroke], fill=line)
    elif kind == "bricks":
        _draw_bricks(rng, draw, cw, ch, wall, line, stroke)
    elif kind in ("planks", "ruled"):
        step = int(rng.integers(8, 40)) if kind == "ruled" else int(rng.integers(20, 120))
        for y in range(int(rng.integers(0, step)), ch, step):
            jitter = int(rng.integers(-step // 6, step // 6 + 1)) if kind == "planks" else 0
            draw.rectangle([0, y + jitter, cw, y + jitter + stroke], fill=line)
        if kind == "ruled" and rng.random() < 0.5:  # a margin line
            x = int(rng.integers(cw // 10, cw // 4))
            draw.rectangle([x, 0, x + stroke, ch], fill=line)
    else:
        for _ in range(int(rng.integers(1, 4))):
            w = int(rng.integers(40, max(41, width // 2)))
            x0 = int(rng.integers(0, max(1, cw - w)))
            y0 = int(rng.integers(0, ch // 2))
            y1 = y0 + int(rng.integers(ch // 3, ch))
            fill = tuple(int(v) for v in rng.integers(30, 250, 3))
            draw.rectangle([x0, y0, x0 + w, y1], fill=fill, outline=line, width=stroke * 2)
            if kind == "window":
                draw.rectangle([x0 + w // 2 - stroke, y0, x0 + w // 2 + stroke, y1], fill=line)
                draw.rectangle([x0, (y0 + y1) // 2 - stroke, x0 + w, (y0 + y1) // 2 + stroke],
                               fill=line)
    light = 1 + 0.35 * np.outer(np.sin(np.arange(ch) / (ch * rng.uniform(0.3, 1))),
                                np.cos(np.arange(cw) / (cw * rng.uniform(0.3, 1))))
    array = np.asarray(image).astype(np.float32) * light[..., None].astype(np.float32)
    array += rng.standard_normal(array.shape, dtype=np.float32) * rng.uniform(2, 8)
    image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    # Real walls are rarely exactly square to the frame.
    if rng.random() < 0.6:
        image = image.rotate(rng.uniform(-4, 4), resample=Image.Resampling.BILINEAR)
    image = image.crop((margin_x, margin_y, margin_x + width, margin_y + height))
    return image.transpose(Image.Transpose.ROTATE_90) if upright else image


def _draw_bricks(rng: np.random.Generator, draw: ImageDraw.ImageDraw, width: int, height: int,
                 wall: tuple[int, ...], mortar: tuple[int, ...], stroke: int) -> None:
    """Running bond: full-width mortar courses, the joints of each course offset by half."""
    course = int(rng.integers(10, 60))
    brick = int(course * rng.uniform(2.0, 4.0))
    spread = int(rng.integers(5, 40))
    for row, y in enumerate(range(0, height, course)):
        offset = (brick // 2) * (row % 2)
        draw.rectangle([0, y, width, y + course], fill=mortar)  # shows in the joints
        for x in range(-offset, width, brick):
            colour = tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255))
                           for c in wall)
            draw.rectangle([x, y, x + brick - stroke, y + course - stroke], fill=colour)


# ---------------------------------------------------------------- text


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _put_text(rng: np.random.Generator, image: Image.Image, box: tuple[int, int, int, int],
              words: tuple[str, ...]) -> None:
    x0, y0, x1, y1 = box
    size = max(10, int((y1 - y0) * rng.uniform(0.05, 0.12)))
    text = str(rng.choice(words))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=_font(size))
    tw, th = right - left, bottom - top
    corner = rng.choice(["top_left", "bottom_left", "top_center", "bottom_center", "top_right"])
    margin = int(size * 0.6)
    x = {"top_left": x0 + margin, "bottom_left": x0 + margin, "top_right": x1 - tw - margin,
         "top_center": (x0 + x1 - tw) // 2, "bottom_center": (x0 + x1 - tw) // 2}[corner]
    y = y0 + margin if corner.startswith("top") else y1 - th - 2 * margin
    colour = tuple(int(v) for v in rng.choice([[255, 255, 255], [0, 0, 0], [230, 30, 30],
                                               [250, 220, 40]]))
    if rng.random() < 0.4:
        backing = tuple(255 - c for c in colour)
        draw.rectangle([x - margin // 2, y - margin // 2, x + tw + margin // 2,
                        y + th + margin], fill=backing)
    draw.text((x, y - top), text, font=_font(size), fill=colour)


# ---------------------------------------------------------------- examples


def make_collage(rng: np.random.Generator, sources: list[OpenPhoto], scale: float = 1.0) -> Example:
    layout = str(rng.choice(list(LAYOUT_WEIGHTS), p=list(LAYOUT_WEIGHTS.values())))
    columns, rows = LAYOUTS[layout]
    panel_h = int(rng.integers(200, 520) * scale)
    panel_w = int(panel_h * rng.uniform(0.6, 1.5))
    gutter = 0 if rng.random() < 0.45 else max(1, int(panel_w * rng.uniform(0.005, 0.06)))
    border = gutter if (gutter and rng.random() < 0.35) or rng.random() < 0.08 else 0
    if border == 0 and gutter == 0 and rng.random() < 0.08:
        border = max(2, int(panel_w * 0.03))
    fill = _separator_colour(rng)
    width = border * 2 + columns * panel_w + (columns - 1) * gutter
    height = border * 2 + rows * panel_h + (rows - 1) * gutter
    canvas = Image.new("RGB", (width, height), fill)
    cells = _cells(layout, columns, rows, panel_w, panel_h, gutter, border)
    same_subject = rng.random() < 0.55
    chosen = [sources[int(rng.integers(len(sources)))]]
    base = None
    labelled = rng.random() < 0.35
    for x0, y0, x1, y1 in cells:
        w, h = x1 - x0, y1 - y0
        if same_subject:
            if base is None:
                base = random_view(rng, chosen[0].load(), w, h)
                panel = base
            else:
                panel = _perturbed(rng, base.resize((w, h), Image.Resampling.BICUBIC))
        else:
            source = sources[int(rng.integers(len(sources)))]
            chosen.append(source)
            panel = random_view(rng, source.load(), w, h)
        canvas.paste(panel, (x0, y0))
        if labelled:
            _put_text(rng, canvas, (x0, y0, x1, y1), LABEL_WORDS)
    seams = _seams(cells, width, height)
    return _finish(rng, canvas, 1, layout, [s.name for s in chosen], seams,
                   {"gutter": gutter, "border": border, "labelled": labelled,
                    "same_subject": same_subject}, scale)


def _separator_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    choice = rng.random()
    if choice < 0.45:
        return (255, 255, 255)
    if choice < 0.75:
        return (0, 0, 0)
    if choice < 0.9:
        grey = int(rng.integers(90, 230))
        return (grey, grey, grey)
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _cells(layout: str, columns: int, rows: int, panel_w: int, panel_h: int, gutter: int,
           border: int) -> list[tuple[int, int, int, int]]:
    if layout == "one_plus_two":
        big = (border, border, border + panel_w, border + 2 * panel_h + gutter)
        right = border + panel_w + gutter
        return [big, (right, border, right + panel_w, border + panel_h),
                (right, border + panel_h + gutter, right + panel_w, border + 2 * panel_h + gutter)]
    cells = []
    for row in range(rows):
        for column in range(columns):
            x0 = border + column * (panel_w + gutter)
            y0 = border + row * (panel_h + gutter)
            cells.append((x0, y0, x0 + panel_w, y0 + panel_h))
    return cells


def _seams(cells: list[tuple[int, int, int, int]], width: int, height: int) -> list[dict[str, float]]:
    """Panel edges that are not on the outside of the canvas, as relative lines."""
    seams: dict[tuple[float, float, float, float], None] = {}
    xs = sorted({c[0] for c in cells} | {c[2] for c in cells})
    ys = sorted({c[1] for c in cells} | {c[3] for c in cells})
    for x in xs[1:-1]:
        spans = [c for c in cells if c[0] == x or c[2] == x]
        seams[(x / width, min(c[1] for c in spans) / height, x / width,
               max(c[3] for c in spans) / height)] = None
    for y in ys[1:-1]:
        spans = [c for c in cells if c[1] == y or c[3] == y]
        seams[(min(c[0] for c in spans) / width, y / height, max(c[2] for c in spans) / width,
               y / height)] = None
    return [dict(zip(("x1", "y1", "x2", "y2"), (round(v, 4) for v in key))) for key in seams]


def make_single(rng: np.random.Generator, sources: list[OpenPhoto], drawn: bool,
                scale: float = 1.0) -> Example:
    height = int(rng.integers(300, 900) * scale)
    width = int(height * np.exp(rng.uniform(np.log(0.5), np.log(2.3))))
    if drawn and rng.random() < DRAWN_SHARE:
        image = drawn_architecture(rng, width, height)
        kind, names = "drawn_architecture", []
    else:
        straight = [s for s in sources if s.straight_edges]
        pool = straight if straight and rng.random() < 0.45 else sources
        source = pool[int(rng.integers(len(pool)))]
        image = random_view(rng, source.load(), width, height, zoom=(0.3, 1.0))
        kind, names = ("single_straight" if source.straight_edges else "single"), [source.name]
    extras: dict[str, object] = {}
    if rng.random() < 0.12:
        frame = max(2, int(width * rng.uniform(0.01, 0.05)))
        framed = Image.new("RGB", (width + 2 * frame, height + 2 * frame), _separator_colour(rng))
        framed.paste(image, (frame, frame))
        image, extras["frame"] = framed, frame
    if rng.random() < 0.15:
        _put_text(rng, image, (0, 0, image.width, image.height), OTHER_WORDS + LABEL_WORDS[:4])
        extras["text"] = True
    return _finish(rng, image, 0, kind, names, [], extras, scale)


def _finish(rng: np.random.Generator, image: Image.Image, label: int, kind: str,
            sources: list[str], seams: list[dict[str, float]],
            extras: dict[str, object], scale: float) -> Example:
    long_side = int(rng.integers(480, 1400) * scale)
    factor = long_side / max(image.size)
    image = image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))),
                         Image.Resampling.BICUBIC, reducing_gap=2.0)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(65, 96)))
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return Example(decoded, label, kind, sources, seams, extras)


def build(split: Split, count: int, seed: int, collage_share: float = 0.5,
          scale: float = 1.0, drawn: bool | None = None) -> Iterator[Example]:
    """`count` examples from the photos of `split`; the same seed gives the same examples.

    `scale` shrinks every size (panels, photos, the uploaded JPEG): training uses 0.5 to build
    its examples four times faster, since the model looks at 160 x 160 anyway. `drawn` mixes
    the drawn hard negatives into the singles (by default only for "train")."""
    sources = collage_photos(split)
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split]])
    with_drawn = split == "train" if drawn is None else drawn
    for _ in range(count):
        if rng.random() < collage_share:
            yield make_collage(rng, sources, scale)
        else:
            yield make_single(rng, sources, with_drawn, scale)


def manifest(split: Split, count: int, seed: int) -> dict[str, object]:
    sources = collage_photos(split)
    return {"version": VERSION, "split": split, "count": count, "seed": seed,
            "photos": [{"name": p.name, "license": p.license, "package": p.package,
                        "registry": p.registry} for p in sources]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for JPEG previews and manifest.json")
    args = parser.parse_args()
    from pathlib import Path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, example in enumerate(build(args.split, args.count, args.seed)):
        name = f"{index:04d}_{example.kind}.jpg"
        Image.fromarray(example.image).save(out / name, quality=92)
        rows.append({"file": name, "label": example.label, "kind": example.kind,
                     "sources": example.sources, "seams": example.seams})
    (out / "manifest.json").write_text(json.dumps(
        {**manifest(args.split, args.count, args.seed), "examples": rows}, indent=1))
    print(f"wrote {len(rows)} examples to {out}")


if __name__ == "__main__":
    main()
