"""Would MediaPipe's bundled models resolve what procedure_match misses? A probe, not shipped.

MediaPipe's wheels carried their models (`mediapipe/modules/*/*.tflite`, Apache-2.0) up to
0.10.21; from 0.10.30 on they carry none (the Tasks API downloads them). 0.10.21 pins
numpy<2 and protobuf<5, and its `solutions` fail to import beside this project's protobuf 7
(`'MessageFactory' object has no attribute 'GetPrototype'`), so this probe runs the model files
themselves with LiteRT (`ai-edge-litert`, Apache-2.0, works with numpy 2). It measures, on
crops of the *training* sources (never the benchmark's photos), per kind of photo:

- the BlazePose person detector's best score (`pose_detection.tflite`, 224 px, [-1, 1]);
- the pose landmark model's presence flag on the whole photo (`pose_landmark_full.tflite`);
- the share of pixels the selfie segmenter calls a person (`selfie_segmentation.tflite`).

    pip download mediapipe==0.10.21 --no-deps -d /tmp/mp && unzip -q -o /tmp/mp/mediapipe-*.whl \\
        'mediapipe/modules/*' -d /tmp/mp/x
    .venv/bin/pip install -c constraints.txt ai-edge-litert==1.4.0
    .venv/bin/python bench/mediapipe_probe.py --modules /tmp/mp/x/mediapipe/modules
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.region_photos import (  # noqa: E402
    MIN_CROP_SIDE,
    TRAIN_PEOPLE_SOURCES,
    TRAIN_SCENE_SOURCES,
    _enlarged,
    clip_box,
    crops_for_face,
    load_source,
)


def letterboxed(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = side / max(height, width)
    resized = np.asarray(Image.fromarray(image).resize(
        (max(1, round(width * factor)), max(1, round(height * factor))), Image.Resampling.BILINEAR))
    square = np.zeros((side, side, 3), np.uint8)
    top, left = (side - resized.shape[0]) // 2, (side - resized.shape[1]) // 2
    square[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return square.astype(np.float32)


def validation_crops(cache: Path) -> list[tuple[str, np.ndarray]]:
    from models.faces import FaceDetector, FaceDetectorConfig

    detector = FaceDetector(FaceDetectorConfig(detect_side=1024, min_face_fraction=0.03,
                                               zoom_out_canvases=()))
    crops = []
    for source in TRAIN_PEOPLE_SOURCES:
        image = load_source(source, cache)
        height, width = image.shape[:2]
        for face in (f for f in detector.detect(image) if f.score > 0.95):
            for kind, box in crops_for_face(face).items():
                crop = clip_box(box, width, height)
                if crop is not None and min(crop[2], crop[3]) >= MIN_CROP_SIDE:
                    x, y, w, h = crop
                    crops.append((kind.replace("face_oblique", "face_frontal"),
                                  _enlarged(np.ascontiguousarray(image[y:y + h, x:x + w]), 400)))
    crops += [("non_human", _enlarged(load_source(s, cache), 400)) for s in TRAIN_SCENE_SOURCES]
    return crops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=Path, required=True, help="mediapipe/modules of 0.10.21")
    parser.add_argument("--cache", type=Path, default=Path("data/sources"))
    args = parser.parse_args()
    from ai_edge_litert.interpreter import Interpreter

    def model(path: str):
        interpreter = Interpreter(model_path=str(args.modules / path), num_threads=1)
        interpreter.allocate_tensors()

        def run(x: np.ndarray) -> list[np.ndarray]:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[None])
            interpreter.invoke()
            return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
        return run

    detector = model("pose_detection/pose_detection.tflite")
    landmarks = model("pose_landmark/pose_landmark_full.tflite")
    segmenter = model("selfie_segmentation/selfie_segmentation.tflite")
    values: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for kind, image in validation_crops(args.cache):
        logits = detector(letterboxed(image, 224) / 127.5 - 1)[1]
        person = float((1 / (1 + np.exp(-np.clip(logits, -80, 80)))).max())
        outputs = landmarks(letterboxed(image, 256) / 255)
        presence = float(outputs[1].ravel()[0])
        mask = segmenter(letterboxed(image, 256) / 255)[0]
        values[kind].append((person, presence, float((mask > 0.5).mean())))
    table = Table(title="MediaPipe 0.10.21 models on crops of the training sources: "
                        "median (min-max) per kind")
    for column in ("kind", "photos", "pose detector score", "pose landmark presence",
                   "selfie-segmentation person share"):
        table.add_column(column, justify="right")
    for kind, rows in sorted(values.items()):
        cells = []
        for column in range(3):
            series = [row[column] for row in rows]
            cells.append(f"{statistics.median(series):.2f} ({min(series):.2f}-{max(series):.2f})")
        table.add_row(kind, str(len(rows)), *cells)
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
