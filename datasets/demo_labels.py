"""A generated stand-in for an export of staff labels, in the export's exact format, for trying
the training CLI without a service database.

    python -m datasets.demo_labels --out data/exports --count 160 [--check watermark]

`collage`: composites and single photos built by `datasets.collage` from the held-out open
photos (split "test", which the shipped collage model never trained on). `watermark`: marked
and clean photos built by `datasets.watermarks` on the held-out sample photos. Photos are dealt
to `--members` practices; the label is the builder's truth, as a careful reviewer would give it.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image
from rich.progress import track

from datasets.collage import build
from datasets.staff_dataset import PHOTOS, DatasetWriter, LabelledItem
from models.registry import sha256_of

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def collage_examples(count: int, seed: int) -> Iterator[tuple[np.ndarray, int]]:
    for example in build("test", count, seed, scale=0.5):  # type: ignore[arg-type]
        yield example.image, int(example.label)


def watermark_examples(count: int, seed: int) -> Iterator[tuple[np.ndarray, int]]:
    from datasets import sample_photos
    from datasets.watermarks import WatermarkSynth

    synth = WatermarkSynth(sample_photos.split("test"), seed, long_side=(448, 640))
    for index in range(count):
        sample = synth.sample(index)
        yield sample.image, sample.label


EXAMPLES = {"collage": collage_examples, "watermark": watermark_examples}


def write_demo(out: Path, count: int, members: int, seed: int, check: str = "collage") -> Path:
    with tempfile.TemporaryDirectory() as staging:
        items, files = [], {}
        examples = EXAMPLES[check](count, seed)
        for index, (image, label) in enumerate(track(examples, total=count,
                                                     description="building demo photos")):
            path = Path(staging) / f"{index}.jpg"
            path.write_bytes(jpeg_bytes(Image.fromarray(image)))
            sha256 = sha256_of(path)
            relative = f"{PHOTOS}/{sha256}.jpg"
            files[relative] = path
            items.append(LabelledItem(check=check, label=label,
                                      member_id=f"m-demo-{index % members:02d}", photo=relative,
                                      sha256=sha256, case_id=f"demo-{index // 2}",
                                      procedure="rhinoplasty", action="confirm"))
        writer = DatasetWriter(out, FRACTIONS, seed, f"datasets.demo_labels (seed {seed})",
                               photos_note=f"Photos: generated {check} examples (JPEG, no "
                                           "metadata); labels are the generator's truth.")
        return writer.write(items, files)


def main(out: Annotated[Path, typer.Option()] = Path("data/exports"),
         count: Annotated[int, typer.Option(min=20)] = 160,
         members: Annotated[int, typer.Option(min=3)] = 10,
         seed: Annotated[int, typer.Option()] = 0,
         check: Annotated[str, typer.Option(help="collage or watermark")] = "collage") -> None:
    if check not in EXAMPLES:
        raise typer.BadParameter(f"choose from {', '.join(EXAMPLES)}", param_hint="--check")
    print(write_demo(out, count, members, seed, check))


if __name__ == "__main__":
    typer.run(main)
