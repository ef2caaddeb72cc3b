"""Register a watermark network on the OCR backbone again, served on the OCR pass.

    python -m training.export_watermark_tail --source 1.8 --version 1.10 --register models/weights

A 1.x network trained with `--arch ppocr --freeze-to 8` (1.6, 1.8) keeps the OCR text
detector's layers up to stride 8 as the detector has them, and the OCR runs those layers on
every photo anyway. This exports the rest (`models.watermark.MarkNetTail`: stride 8 to the
logits) as ONNX, checks it against the whole network, times both on this machine's CPU and
registers it as a new version whose `config.input` makes the service feed it the OCR pass's
own stride-8 tensor (`TextFeatures.backbone8`). Weights, threshold and training metrics are
the source version's, unchanged; the card says where it came from.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from models.registry import ModelRegistry, ModelVersion
from models.watermark import (BACKBONE_8_INPUT, MODEL_NAME, ONNX_FILE, TAIL_ONNX_FILE,
                              TORCHSCRIPT_FILE, MarkNet, MarkNetTail)
from training.train_watermark import median_ms

console = Console()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True,
                        help="the registered version to serve on the OCR pass, e.g. 1.8")
    parser.add_argument("--version", required=True, help="the new version's name, e.g. 1.10")
    parser.add_argument("--register", type=Path, required=True,
                        help="registry root to read the source from and add the version to")
    parser.add_argument("--threads", type=int, default=2, help="threads for the timings")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per backend")
    return parser.parse_args(argv)


def source_network(source: ModelVersion) -> MarkNet:
    """The source version's network, refused by name unless it has a tail to serve."""
    config = source.config
    if config.get("arch") != "ppocr" or int(config.get("freeze_to", 8)) != 8:
        raise SystemExit(f"--source {source.version}: not a network on the OCR backbone with "
                         "its layers up to stride 8 frozen (train_watermark --arch ppocr "
                         "--freeze-to 8)")
    source.verify()
    network = MarkNet(float(config.get("width", 1.0)), "ppocr", 8)
    network.load_state_dict(torch.jit.load(str(source.path(TORCHSCRIPT_FILE)),
                                           map_location="cpu").state_dict())
    return network.eval()


def export_tail(network: MarkNet, path: Path) -> None:
    example = torch.zeros(1, 96, 48, 64)
    torch.onnx.export(MarkNetTail(network).eval(), (example,), str(path),
                      input_names=["backbone8"], output_names=["logits"], opset_version=17,
                      dynamo=False, dynamic_axes={"backbone8": {2: "rows8", 3: "cols8"},
                                                  "logits": {2: "rows", 3: "cols"}})


def measure(network: MarkNet, source: ModelVersion, tail_file: Path, long_side: int,
            threads: int, runs: int) -> dict[str, float]:
    """The tail against the whole network on one input: largest logit difference, and both
    ONNX files' median time here (the tail's input computed as the OCR pass would)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    sessions = {name: onnxruntime.InferenceSession(str(path), options,
                                                   providers=["CPUExecutionProvider"])
                for name, path in (("tail", tail_file), ("whole", source.path(ONNX_FILE)))}
    image = np.random.default_rng(0).uniform(0, 255, (1, 3, long_side * 3 // 4, long_side))
    image = image.astype(np.float32)
    with torch.inference_mode():
        at8 = network.shallow[0](torch.from_numpy(image) / 127.5 - 1.0).numpy()
    whole = sessions["whole"].run(None, {"image": image})[0]
    tail = sessions["tail"].run(None, {"backbone8": at8})[0]
    return {
        "tail_max_abs_diff": float(np.abs(tail - whole).max()),
        "tail_onnxruntime_median_ms": round(median_ms(
            lambda: sessions["tail"].run(None, {"backbone8": at8}), runs), 2),
        "whole_onnxruntime_median_ms_here": round(median_ms(
            lambda: sessions["whole"].run(None, {"image": image}), runs), 2),
    }


CARD = """# watermark {version}

Watermark {source} served on the OCR pass: the same weights and threshold, with the layers it
never trained (the OCR text detector's own, up to stride 8) taken from the photo's OCR pass
instead of run again on the pixels (`models.watermark.MarkNetTail`, `config.input =
"{input}"`). Made by:

```bash
{command}
```

The OCR detector stretches each side of its input to a multiple of 32 where {source} was
trained on inputs padded to one, so scores move a little against {source} on the pixels: the
benchmark compares the two (`bench.watermark_bench --compare-versions {source},{version}`).

## Measured here
- largest logit difference from {source}'s whole network on the same {long_side}-px input:
  {diff:.2e}
- ONNX Runtime, {threads} threads, median: {tail_ms:.2f} ms for this part against
  {whole_ms:.2f} ms for the whole network on the pixels

## {source}'s card
{source_card}
"""


def demoted(markdown: str) -> str:
    """Headings two levels down (not a code block's comments), so a card nests under a
    heading of this one."""
    lines, in_code = [], False
    for line in markdown.splitlines():
        in_code ^= line.startswith("```")
        lines.append("##" + line if line.startswith("#") and not in_code else line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    registry = ModelRegistry([args.register])
    source = registry.get(MODEL_NAME, args.source)
    if source is None:
        raise SystemExit(f"--source {args.source}: no such {MODEL_NAME} version under "
                         f"{args.register}")
    if registry.get(MODEL_NAME, args.version) is not None:
        raise SystemExit(f"--version {args.version}: registered already")
    network = source_network(source)
    long_side = int(source.config.get("long_side", 512))
    callers_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        command = "python -m training.export_watermark_tail " + " ".join(
            sys.argv[1:] if argv is None else argv)
        register_tail(args, registry, source, network, long_side, command)
    finally:
        torch.set_num_threads(callers_threads)
    console.print(f"registered {MODEL_NAME} {args.version} ({args.source} on the OCR pass) "
                  f"under {args.register}")
    return 0


def register_tail(args: argparse.Namespace, registry: ModelRegistry, source: ModelVersion,
                  network: MarkNet, long_side: int, command: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tail_file = Path(scratch) / TAIL_ONNX_FILE
        export_tail(network, tail_file)
        timings = measure(network, source, tail_file, long_side, args.threads, args.runs)
        console.print(timings)
        card = CARD.format(
            version=args.version, source=source.version, input=BACKBONE_8_INPUT, command=command,
            long_side=long_side, diff=timings["tail_max_abs_diff"], threads=args.threads,
            tail_ms=timings["tail_onnxruntime_median_ms"],
            whole_ms=timings["whole_onnxruntime_median_ms_here"],
            source_card=demoted((source.directory / "card.md").read_text().strip()))
        registry.add(MODEL_NAME, args.version, {TAIL_ONNX_FILE: tail_file},
                     metrics={**source.metrics, **timings}, thresholds=source.thresholds,
                     data_version=source.data_version, command=command,
                     config={**source.config, "input": BACKBONE_8_INPUT,
                             "ocr_det_max_side": long_side, "served_from": source.version},
                     card=card)


if __name__ == "__main__":
    sys.exit(main())
