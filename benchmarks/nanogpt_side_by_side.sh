#!/usr/bin/env bash
# Side-by-side: nanoGPT's README CPU command and genlab's `gpt-shakespeare-cpu` benchmark,
# one after the other on the same machine and the same Tiny Shakespeare file.
#
#   benchmarks/nanogpt_side_by_side.sh /path/to/nanoGPT [data root]
#
# The nanoGPT checkout is copied to a temporary folder (its data preparation writes files);
# nothing of it enters genlab. Its prepare script needs `requests` and `numpy` in $NANOGPT_PYTHON.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
checkout="${1:?usage: $0 /path/to/nanoGPT [data root]}"
root="${2:-${GENLAB_DATA:-$here/data}}"
python="${PYTHON:-$here/.venv/bin/python}"
nanogpt_python="${NANOGPT_PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -r "$checkout"/. "$work/"
cp "$root/tinyshakespeare/input.txt" "$work/data/shakespeare_char/input.txt"
(cd "$work/data/shakespeare_char" && "$nanogpt_python" prepare.py >/dev/null)

echo "== nanoGPT (README CPU command), $(cd "$checkout" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
start=$("$python" -c "import time; print(time.time())")
(cd "$work" && "$python" train.py config/train_shakespeare_char.py --device=cpu --compile=False \
    --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 \
    --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0 2>&1) \
  | grep -E "^step [0-9]+:" | tail -n 2
end=$("$python" -c "import time; print(time.time())")
"$python" -c "print(\"nanoGPT wall_s\", round($end - $start, 1))"

echo "== genlab bench gpt-shakespeare-cpu"
"$here/.venv/bin/genlab" bench gpt-shakespeare-cpu --json --data-root "$root"
