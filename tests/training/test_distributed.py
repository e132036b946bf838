"""Multi-process training: two gloo processes on the CPU against one process on the combined batch.

Both ranks run every scenario in one spawn (starting processes is the slow part) and save what
they end with; the test process then trains the same models alone with twice the batch size.

The models draw noise (a VAE's latent samples, a GAN's latent codes), which no sharding can make
equal to one process's draws. :class:`GlobalBatchNoise` makes the noise a function of the
position in the global batch: call ``k`` draws the whole global batch's noise from seed ``k`` and
each rank keeps its rows. The weights then agree to float rounding exactly when the gradients,
the batch-norm statistics, the sharding and the start-up broadcast are right.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import genlab
from conftest import TEXT, fast_train_config, state_dicts_equal, tiny_overrides
from genlab.training import Trainer, distributed, resume

BATCH = 8  # per rank; the single-process reference uses 2 * BATCH
STEPS = 3
FAMILIES = {"vae": "digits", "dcgan": "digits", "gpt": "text", "glow": "digits"}


class GlobalBatchNoise:
    """Replace torch's noise functions by draws that depend on the global batch position only."""

    NAMES = ("randn", "randn_like", "rand", "rand_like", "randint")

    def __init__(self, local_batch: int, rank: int, world: int):
        self.local, self.rank, self.world = local_batch, rank, world
        self.calls = 0
        self.saved = {}

    def _draw(self, fn, shape, dtype=None, device=None):
        self.calls += 1
        g = torch.Generator().manual_seed(self.calls)
        shape = tuple(shape)
        if shape and shape[0] == self.local:  # batch-shaped: draw the global batch, keep this rank's rows
            full = fn((self.world * self.local, *shape[1:]), generator=g, dtype=dtype)
            out = full[self.rank * self.local:(self.rank + 1) * self.local]
        else:
            out = fn(shape, generator=g, dtype=dtype)
        return out.to(device) if device is not None else out

    def __enter__(self):
        self.saved = {name: getattr(torch, name) for name in self.NAMES}
        randn, rand, randint = self.saved["randn"], self.saved["rand"], self.saved["randint"]

        def sized(fn):
            def draw(*size, generator=None, dtype=None, device=None, **kw):
                if generator is not None or kw:
                    return fn(*size, generator=generator, dtype=dtype, device=device, **kw)
                shape = size[0] if len(size) == 1 and not isinstance(size[0], int) else size
                return self._draw(fn, shape, dtype, device)
            return draw

        def like(fn):
            return lambda x, dtype=None, **kw: self._draw(fn, x.shape, dtype or x.dtype, x.device)

        def randint_(*args, generator=None, dtype=None, device=None, **kw):
            if generator is not None or kw or len(args) != 3:
                return randint(*args, generator=generator, dtype=dtype, device=device, **kw)
            low, high, size = args
            return self._draw(lambda s, generator, dtype: randint(low, high, s, generator=generator,
                                                                  dtype=dtype or torch.int64), size, dtype, device)

        torch.randn, torch.rand, torch.randint = sized(randn), sized(rand), randint_
        torch.randn_like, torch.rand_like = like(randn), like(rand)
        return self

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(torch, name, fn)


def _data(kind: str, folder: Path):
    if kind == "digits":
        return genlab.load_dataset("digits")
    path = folder / "tiny.txt"
    if not path.exists():
        path.write_text(TEXT, encoding="utf-8")
    return genlab.load_dataset(f"text:{path}")


def train_families(folder: Path, batch_size: int, rank: int, world: int) -> dict[str, dict[str, torch.Tensor]]:
    """Each family trained for STEPS steps with global-batch noise; the VAE writes a run folder."""
    results = {}
    for name, kind in FAMILIES.items():
        data = _data(kind, folder)
        torch.manual_seed(rank)  # rank 1 starts from other weights: the broadcast must fix them
        model = genlab.create_model(name, data=data, **tiny_overrides(name))
        # Adam's eps large: a gradient that is zero in exact arithmetic (a bias before batch norm)
        # would otherwise turn float noise into a full step of either sign
        config = fast_train_config(steps=STEPS, batch_size=batch_size, lr=3e-3, eps=1e-3)
        out = folder / f"{name}-run" if name == "vae" else None
        trainer = Trainer(model, data, config, out_dir=out)
        with GlobalBatchNoise(batch_size, rank, world):
            trainer.fit()
        results[name] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    return results


def resume_scenario(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    """A VAE run of 4 steps, uninterrupted and stopped at step 2 then resumed (real RNG streams)."""
    data = genlab.load_dataset("digits")
    weights = {}
    for name, until in (("whole", None), ("resumed", 2)):
        torch.manual_seed(0)
        model = genlab.create_model("vae", data=data, **tiny_overrides("vae"))
        config = fast_train_config(steps=4, batch_size=BATCH, checkpoint_every=2)
        trainer = Trainer(model, data, config, out_dir=folder / name, data_spec={"name": "digits", "options": {}})
        trainer.fit(until=until)
        if until is not None:
            trainer = resume(folder / name, overrides={"progress": False})
            trainer.fit()
        weights[name] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    return weights


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    folder = Path(folder)
    try:
        results = train_families(folder, BATCH, rank, world)
        results.update({f"resume-{k}": v for k, v in resume_scenario(folder).items()})
        torch.save(results, folder / f"rank{rank}.pt")
    finally:
        distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """What both ranks of a 2-process run end with (one spawn for all the tests here)."""
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, _free_port(), str(folder)), nprocs=2, join=True)
    return folder, [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_ranks_agree_with_one_process_on_the_combined_batch(two_ranks, tmp_path):
    folder, (rank0, rank1) = two_ranks
    reference = train_families(tmp_path, 2 * BATCH, 0, 1)
    for name in FAMILIES:
        assert state_dicts_equal(rank0[name], rank1[name]) == [], f"{name}: the ranks drifted apart"
        torch.manual_seed(0)
        start = genlab.create_model(name, data=_data(FAMILIES[name], tmp_path), **tiny_overrides(name)).state_dict()
        assert state_dicts_equal(start, reference[name]) != [], f"{name}: training did not change the weights"
        for key, value in reference[name].items():
            torch.testing.assert_close(rank0[name][key].float(), value.float(), rtol=1e-4, atol=2e-5,
                                       msg=lambda m, key=key, name=name: f"{name} {key}: {m}")


def test_resume_under_two_processes_continues_exactly(two_ranks):
    _, ranks = two_ranks
    for r, results in enumerate(ranks):
        assert state_dicts_equal(results["resume-whole"], results["resume-resumed"]) == [], f"rank {r}"
    assert state_dicts_equal(ranks[0]["resume-whole"], ranks[1]["resume-whole"]) == []


def test_metrics_written_once_under_two_processes(two_ranks):
    folder, _ = two_ranks
    lines = (folder / "vae-run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(set(lines))
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, STEPS + 1))
    assert sum(r["split"] == "val" for r in rows) == 1


def test_resume_with_another_number_of_processes_is_refused(two_ranks):
    folder, _ = two_ranks
    with pytest.raises(genlab.errors.CheckpointError, match="2 process.*nproc_per_node 2"):
        resume(folder / "whole")


@pytest.mark.parametrize("num_items", [40, 37, 33])  # whole global batches, a tail of 5, a tail of 1 (< 2 ranks)
def test_sharded_batches_are_the_single_process_batches(num_items):
    from genlab.data.sampler import BatchSampler

    one = BatchSampler(num_items, 8, seed=3)
    ranks = [BatchSampler(num_items, 4, seed=3, rank=r, world_size=2) for r in range(2)]
    assert ranks[0].batches_per_epoch == ranks[1].batches_per_epoch
    for _ in range(2):  # two epochs
        single = [one.next() for _ in range(one.batches_per_epoch)]
        shards = [[s.next() for s in ranks] for _ in range(ranks[0].batches_per_epoch)]
        assert all(len(part) > 0 and abs(len(a) - len(b)) <= 1 for a, b in shards for part in (a, b))
        combined = [torch.cat(parts) for parts in shards]
        assert torch.cat(combined).tolist() == torch.cat(single).tolist()  # the same items in the same order
        for joint, alone in zip(combined[:-1], single):  # each global batch is one process's batch (a short
            assert joint.tolist() == alone.tolist()      # tail joins the last one)
        assert ranks[0].state_dict() == ranks[1].state_dict() == one.state_dict()
