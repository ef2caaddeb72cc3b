"""A generated stand-in for an export of staff labels, in the export's exact format, for trying
the training CLI without a service database.

    python -m datasets.demo_labels --out data/exports --count 160

Collage labels on composites and single photos built by `datasets.collage` from the held-out
open photos (split "test", which the shipped collage model never trained on), dealt to
`--members` practices. The label is the builder's truth, as a careful reviewer would give it.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from PIL import Image
from rich.progress import track

from datasets.collage import build
from datasets.staff_dataset import PHOTOS, DatasetWriter, LabelledItem, file_sha256

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def write_demo(out: Path, count: int, members: int, seed: int) -> Path:
    with tempfile.TemporaryDirectory() as staging:
        items, files = [], {}
        examples = build("test", count, seed, scale=0.5)  # type: ignore[arg-type]
        for index, example in enumerate(track(examples, total=count,
                                              description="building demo photos")):
            data = jpeg_bytes(Image.fromarray(example.image))
            path = Path(staging) / f"{index}.jpg"
            path.write_bytes(data)
            sha256 = file_sha256(path)
            relative = f"{PHOTOS}/{sha256}.jpg"
            files[relative] = path
            items.append(LabelledItem(check="collage", label=int(example.label),
                                      member_id=f"m-demo-{index % members:02d}", photo=relative,
                                      sha256=sha256, case_id=f"demo-{index // 2}",
                                      procedure="rhinoplasty", action="confirm"))
        writer = DatasetWriter(out, FRACTIONS, seed, f"datasets.demo_labels (seed {seed})",
                               photos_note="Photos: generated composites and singles of the "
                                           "held-out open photos (JPEG, no metadata); labels "
                                           "are the generator's truth.")
        return writer.write(items, files)


def main(out: Annotated[Path, typer.Option()] = Path("data/exports"),
         count: Annotated[int, typer.Option(min=20)] = 160,
         members: Annotated[int, typer.Option(min=3)] = 10,
         seed: Annotated[int, typer.Option()] = 0) -> None:
    print(write_demo(out, count, members, seed))


if __name__ == "__main__":
    typer.run(main)
