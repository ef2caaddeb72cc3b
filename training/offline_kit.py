"""The offline kit: what a streamed watermark training run needs on a machine that reaches no
package registry (a lent GPU machine), gathered here, where the registries answer.

    python -m training.offline_kit build [--out .kit] [--photo-set 3]   # here
    python -m training.offline_kit unpack [--kit .kit]                  # there: files in place
    python -m training.offline_kit check [--kit .kit] [--photo-set 3]   # there, before training

`build` writes into the kit folder (git ignores `.kit/`):
- `sources/`: the photos that npm and Debian packages serve, as
  `datasets.sample_photos.write_copies` writes them (the rest ship in scikit-image,
  scikit-learn and matplotlib, which the machine has);
- `wheels/`: the Python packages the trainer imports that the machine's image lacks
  (`--package`, at the versions installed here), built for that machine's Python;
- `site/rapidocr_onnxruntime/models/`: the OCR text detector (Apache-2.0) whose backbone
  `--arch ppocr` starts from, without the rest of its wheel
  (`models.ppocr_backbone.detector_file` finds it on the Python path);
- `init/`: the weights the run starts from (`--init`, default 1.8's), at their path in the
  repository, which `unpack` restores there; only when that file does not travel with the
  working tree anyway (a registered version's weights do);
- `manifest.json`: each file's size and sha256, and what the working tree weighs with the kit,
  against what a call may carry (`--limit-mib`). Should the two outgrow it, the registered
  weights (`models/weights`, most of the tree) are what to leave behind: the run reads none of
  them but its start.

`training/gpu_watermark.sh` is the other half: run there, it installs the wheels, `unpack`s the
photos into `data/sources` (leaving any already there), runs `check` and trains.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

from datasets import sample_photos

REPO = Path(__file__).resolve().parents[1]
# What `train_watermark --arch ppocr` imports that the lent GPU machine's image does not hold;
# PyTorch, numpy, Pillow, OpenCV, onnx, ONNX Runtime, scikit-*, matplotlib, rich, tqdm are there.
KIT_PACKAGES = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "onnx2torch")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
DETECTOR_PACKAGE = "rapidocr_onnxruntime"
DEFAULT_INIT = REPO / "models" / "weights" / "watermark" / "1.8" / "watermark.pt"
WEIGHTS = "models/weights"


def build(out: Path, photo_set: int, packages: list[str], python_version: str,
          init: Path | None) -> dict:
    if init is not None and not init.is_file():
        raise FileNotFoundError(f"--init {init}: no such file")
    if init is not None and not init.resolve().is_relative_to(REPO):
        raise ValueError(f"--init {init}: not inside the repository")
    if (out / "manifest.json").is_file():
        shutil.rmtree(out)  # an earlier kit: two versions of a wheel would stop the install
    elif out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} holds files and no kit's manifest.json: not replaced")
    out.mkdir(parents=True, exist_ok=True)
    tree = working_tree()
    sample_photos.write_copies(run_photos(photo_set), out / "sources")
    if packages:
        download_wheels(packages, out / "wheels", python_version)
    copy_detector(out / "site")
    if init is not None and not travels(init, tree):
        target = out / "init" / init.resolve().relative_to(REPO)
        target.parent.mkdir(parents=True)
        shutil.copyfile(init, target)
    return write_manifest(out, photo_set, init, tree)


def run_photos(photo_set: int) -> list[sample_photos.SamplePhoto]:
    """Every photo a run of that photo set reads: its training scenes, validation and test."""
    return (sample_photos.split("train", photo_set) + sample_photos.split("val")
            + sample_photos.split("test"))


def download_wheels(packages: list[str], folder: Path, python_version: str) -> None:
    """Each package at the version installed here, as a wheel for the machine's Python."""
    pinned = [f"{name}=={importlib.metadata.version(name)}" for name in packages]
    platforms = [argument for platform in PLATFORMS for argument in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", python_version,
                    "--implementation", "cp", *platforms, "--dest", str(folder), *pinned],
                   check=True)


def copy_detector(site: Path) -> Path:
    from models.ppocr_backbone import detector_file

    source = detector_file()
    target = site / DETECTOR_PACKAGE / "models" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def write_manifest(out: Path, photo_set: int, init: Path | None,
                   tree: dict[str, int]) -> dict:
    from models.registry import sha256_of  # here: `check` must run, and say so, without pydantic

    files = sorted(path for path in out.rglob("*")
                   if path.is_file() and path.name != "manifest.json")
    kit_bytes = sum(path.stat().st_size for path in files)
    manifest = {
        "photo_set": photo_set,
        "init": None if init is None else str(init.resolve().relative_to(REPO)),
        "files": {str(path.relative_to(out)): {"bytes": path.stat().st_size,
                                               "sha256": sha256_of(path)} for path in files},
        "kit_bytes": kit_bytes,
        "working_tree_bytes": sum(tree.values()),
        "registered_weights_bytes": sum(size for name, size in tree.items()
                                        if name.startswith(WEIGHTS + "/")),
        "detector_license": "Apache-2.0 (rapidocr_onnxruntime "
                            f"{importlib.metadata.version(DETECTOR_PACKAGE)})",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def working_tree() -> dict[str, int]:
    """What travels besides the kit (tracked files and the untracked ones git does not ignore):
    each file's path in the repository and its size."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, check=True, capture_output=True).stdout.split(b"\0")
    names = (entry.decode() for entry in listed if entry)
    return {name: (REPO / name).stat().st_size for name in names if (REPO / name).is_file()}


def travels(path: Path, tree: dict[str, int]) -> bool:
    """Whether `path` is among the working tree's files (`working_tree()`)."""
    return str(path.resolve().relative_to(REPO)) in tree


def unpack(kit: Path) -> int:
    """Copy the kit's photos into the datasets' cache and its start weights to their path,
    leaving files already there (a cache that fetched the originals keeps them). Returns how
    many files were copied."""
    copied = 0
    for folder, root in ((kit / "sources", sample_photos.SOURCE_CACHE), (kit / "init", REPO)):
        for source in sorted(folder.rglob("*")):
            target = root / source.relative_to(folder)
            if source.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                copied += 1
    return copied


def check(kit: Path, photo_set: int) -> list[str]:
    """What would stop the run, each as a line; empty when nothing would."""
    problems = []
    manifest = kit / "manifest.json"
    if not manifest.is_file():
        problems.append(f"{kit}: no manifest.json (build the kit with "
                        "`python -m training.offline_kit build`)")
    else:
        held = json.loads(manifest.read_text())
        if held["photo_set"] < photo_set:
            problems.append(f"{kit} holds photo set {held['photo_set']}, "
                            f"the run asks for {photo_set}")
        if held["init"] and not (REPO / held["init"]).is_file():
            problems.append(f"start weights {held['init']} are not in the checkout "
                            "(neither travelled nor in the kit)")
    for name in ("pydantic", "onnx2torch"):
        try:
            __import__(name)
        except ImportError as error:
            problems.append(f"cannot import {name}: {error}")
    try:
        from models.ppocr_backbone import detector_file
        detector_file()
    except (FileNotFoundError, ImportError) as error:
        problems.append(str(error))
    for photo in run_photos(photo_set):
        try:
            photo.load()
        except Exception as error:  # noqa: BLE001 - every unreadable photo is named, then exit 1
            problems.append(f"photo {photo.name} ({photo.origin}): {error}")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    built = verbs.add_parser("build", help="gather the kit here")
    built.add_argument("--out", type=Path, default=REPO / ".kit")
    built.add_argument("--package", action="append", dest="packages", default=None,
                       help="a package to carry as a wheel (repeat; default: "
                            f"{', '.join(KIT_PACKAGES)})")
    built.add_argument("--no-wheels", action="store_true", help="carry no wheels")
    built.add_argument("--init", type=Path, default=DEFAULT_INIT,
                       help="weights the run starts from (a 1.x watermark.pt)")
    built.add_argument("--no-init", dest="init", action="store_const", const=None,
                       help="the run starts from the detector's own backbone")
    built.add_argument("--python-version", default="3.12", help="the machine's Python")
    built.add_argument("--limit-mib", type=float, default=64.0,
                       help="what one call may carry (working tree and kit together)")
    checked = verbs.add_parser("check", help="there: is everything the run needs in place?")
    checked.add_argument("--kit", type=Path, default=REPO / ".kit")
    unpacked = verbs.add_parser("unpack", help=(
        "there: the kit's photos into data/sources and its start weights to their path"))
    unpacked.add_argument("--kit", type=Path, default=REPO / ".kit")
    for verb in (built, checked):
        verb.add_argument("--photo-set", type=int, default=sample_photos.LATEST_PHOTO_SET)
    args = parser.parse_args(argv)
    if args.verb != "unpack":
        sample_photos.require_photo_set(parser, args.photo_set)
    if args.verb == "build":
        args.packages = [] if args.no_wheels else (args.packages or list(KIT_PACKAGES))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.verb == "unpack":
        if not (args.kit / "sources").is_dir():
            print(f"offline kit: {args.kit} has no sources/ (not a built kit)", file=sys.stderr)
            return 1
        print(f"{unpack(args.kit)} files of the kit copied into place")
        return 0
    if args.verb == "check":
        problems = check(args.kit, args.photo_set)
        for problem in problems:
            print(f"offline kit: {problem}", file=sys.stderr)
        import torch
        cuda = "available" if torch.cuda.is_available() else "not available"
        print(f"torch {torch.__version__}, CUDA {cuda}")
        return 1 if problems else 0
    try:
        manifest = build(args.out, args.photo_set, args.packages, args.python_version, args.init)
    except (OSError, ValueError, subprocess.CalledProcessError) as error:
        print(f"offline kit: {error}", file=sys.stderr)
        return 1
    kit, tree = manifest["kit_bytes"] / 2**20, manifest["working_tree_bytes"] / 2**20
    weights = manifest["registered_weights_bytes"] / 2**20
    print(f"kit {kit:.1f} MiB in {args.out} ({len(manifest['files'])} files); with the working "
          f"tree ({tree:.1f} MiB, {weights:.1f} of them {WEIGHTS}) {kit + tree:.1f} MiB; a call "
          f"carries {args.limit_mib:g}")
    if kit + tree > args.limit_mib:
        print(f"over by {kit + tree - args.limit_mib:.1f} MiB: carry fewer photos or packages, "
              f"or move {WEIGHTS} out of the checkout and build again (the start weights then "
              "go into the kit)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
