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

# nanoGPT's printed loss is an estimate from 20 random batches; score its final checkpoint on the
# whole validation split exactly as genlab does (windows of 65 characters, stride 64).
"$python" - "$work" <<'PY'
import sys, torch, numpy as np, torch.nn.functional as F
work = sys.argv[1]
sys.path.insert(0, work)
from model import GPT, GPTConfig
ckpt = torch.load(f"{work}/out-shakespeare-char/ckpt.pt", map_location="cpu", weights_only=False)
model = GPT(GPTConfig(**ckpt["model_args"]))
model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
model.eval()
val = torch.from_numpy(np.fromfile(f"{work}/data/shakespeare_char/val.bin", dtype=np.uint16).astype(np.int64))
T = 64
starts = torch.arange(0, len(val) - T, T)
total, count = 0.0, 0
with torch.no_grad():
    for chunk in starts.split(256):
        windows = val[chunk[:, None] + torch.arange(T + 1)]
        logits, _ = model(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), windows[:, 1:].reshape(-1), reduction="sum").item()
        count += windows[:, 1:].numel()
print(f"nanoGPT whole-validation loss {total / count:.4f} at iteration {ckpt['iter_num']}")
PY

echo "== genlab bench gpt-shakespeare-cpu"
start=$("$python" -c "import time; print(time.time())")
"$here/.venv/bin/genlab" bench gpt-shakespeare-cpu --json --data-root "$root" > "$work/genlab.json"
end=$("$python" -c "import time; print(time.time())")
"$python" -c "print(\"genlab process wall_s\", round($end - $start, 1))"
cat "$work/genlab.json"
