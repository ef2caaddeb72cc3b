"""CPU inference of the registered 2.x watermark heads: ONNX Runtime against TorchScript.

    .venv/bin/python -m bench.watermark_head_backends [--versions 2.2,2.1] [--runs 200]

The registry keeps each head as the ONNX file the service serves; the same weights, read back
into PyTorch (`training.learners.FusedFeatureHead.from_onnx`), are traced to TorchScript. Both
run one 512 x 384 photo's feature map (32 x 24 cells) on 1 thread, as served, and the table
prints their median and p95 ms side by side with each one's largest difference from eager
PyTorch.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from models.registry import SHIPPED_ROOT, ModelRegistry
from models.watermark import HEAD_ONNX_FILE, MODEL_NAME
from training.learners import FusedFeatureHead
from training.train_watermark_head import backend_timings, feature_map_example


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default="", help="registered 2.x versions, comma-separated "
                        "(default: every version with a head file)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per backend")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs is 1 or more")
    return args


def head_versions(registry: ModelRegistry, wanted: str) -> list:
    versions = {v.version: v for v in registry.versions(MODEL_NAME) if HEAD_ONNX_FILE in v.files}
    names = [name.strip() for name in wanted.split(",") if name.strip()] or sorted(versions)
    unknown = [name for name in names if name not in versions]
    if unknown:
        raise SystemExit(f"not a registered watermark head: {', '.join(unknown)} "
                         f"(heads: {', '.join(sorted(versions))})")
    return [versions[name] for name in names]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    console.width = max(console.width, 110)
    table = Table(title="watermark heads, one 32 x 24 feature map, 1 thread (ms)")
    for column in ("version", "ONNX Runtime median", "TorchScript median", "TorchScript / ONNX",
                   "max |diff| ONNX", "max |diff| TorchScript"):
        table.add_column(column, justify="right")
    example = feature_map_example()
    for version in head_versions(ModelRegistry([SHIPPED_ROOT]), args.versions):
        head = FusedFeatureHead.from_onnx(version.path(HEAD_ONNX_FILE))
        timings = backend_timings(head, version.path(HEAD_ONNX_FILE), example, args.runs)
        onnx, script = timings["onnxruntime_median_ms"], timings["torchscript_median_ms"]
        table.add_row(version.version, f"{onnx:.3f}", f"{script:.3f}", f"{script / onnx:.2f}x",
                      f"{timings['onnx_max_abs_diff']:.1e}",
                      f"{timings['torchscript_max_abs_diff']:.1e}")
    console.print(table)
    console.print("shipped: the ONNX file (the served detector, models.watermark."
                  "FeatureWatermarkDetector, reads it through ONNX Runtime)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
