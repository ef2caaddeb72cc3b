#!/usr/bin/env bash
# Train the watermark detector on a machine that reaches no package registry (a lent GPU
# machine), from the offline kit that `python -m training.offline_kit build` gathered here.
#
#   bash training/gpu_watermark.sh RUN_DIR [train_watermark arguments]
#
# Run from the repository root there. The recipe below is the next step the watermark notes
# recommend (docs/watermark-models.md: 1.8 continued with every layer learning, many samples);
# arguments given after RUN_DIR are appended, so they override it (argparse keeps the last).
# Back here, `python -m training.train_watermark --from-run RUN_DIR --register models/weights`
# exports, times and registers what the run left. KIT names another kit folder (default .kit).
set -euo pipefail

if [[ $# -lt 1 || $1 == -* ]]; then
    echo "usage: bash training/gpu_watermark.sh RUN_DIR [train_watermark arguments]" >&2
    exit 2
fi
run_dir=$1
shift
kit=${KIT:-.kit}
if [[ ! -f $kit/manifest.json ]]; then
    echo "no offline kit at $kit: build it with python -m training.offline_kit build" >&2
    exit 2
fi
python=${PYTHON:-python3}

site=$(mktemp -d)
if compgen -G "$kit/wheels/*.whl" > /dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
        --target "$site" "$kit"/wheels/*.whl
fi
export PYTHONPATH="$PWD:$site:$(cd "$kit" && pwd)/site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$python" -m training.offline_kit unpack --kit "$kit"

recipe=(--stream --device cuda --arch ppocr --freeze-to 0 --long-side 512 --crop 256
        --crops-per-sample 4 --batch-size 128 --lr 0.001 --train-samples 60000 --workers 15
        --evaluations 8 --max-minutes 7.0 --schedule-by-clock --photo-set 3
        --scene-text-rate 0.3)
field() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' \
    "$kit/manifest.json" "$1"; }
init=$(field init)
if [[ -n $init ]]; then
    recipe+=(--init "$init")
fi
photo_set=$(field photo_set)
"$python" -m training.offline_kit check --kit "$kit" --photo-set "$photo_set"
"$python" -m training.train_watermark --out "$run_dir" "${recipe[@]}" "$@"
