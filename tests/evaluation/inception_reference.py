"""Reference features for the Inception-v3 test, computed with torchvision's implementation.

genlab's Inception-v3 (``genlab.evaluation.inception``) is written without torchvision, which
cannot be installed beside the CPU build of PyTorch that genlab's tests use. This script, run
where torchvision is installed, builds torchvision's ``Inception3`` (and the FID variant of its
blocks), fills both with the same seeded weights that ``tests/evaluation/test_inception.py`` uses, and
writes their parameter names and shapes and their features for seeded inputs to
``tests/fixtures/inception_reference.json``::

    python tests/evaluation/inception_reference.py          # needs torch and torchvision

The test then checks that genlab's network has the same parameters and gives the same features.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

REFERENCE_FILE = Path(__file__).parents[1] / "fixtures" / "inception_reference.json"
WEIGHT_SEED, INPUT_SEED = 1234, 99


def fill_weights(state: dict[str, torch.Tensor], seed: int = WEIGHT_SEED) -> dict[str, torch.Tensor]:
    """Seeded weights for every tensor of an Inception-v3 state dict, in sorted-name order.

    He-scaled convolutions and near-identity batch norms keep activations of a sensible size
    through all 94 layers, so the comparison is not lost in overflow or vanishing values.
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name in sorted(state):
        shape = state[name].shape
        if name.endswith("num_batches_tracked"):
            out[name] = torch.zeros((), dtype=torch.long)
        elif name.endswith("conv.weight"):
            fan_in = math.prod(shape[1:])
            out[name] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
        elif name.endswith("bn.weight"):
            out[name] = 1 + 0.1 * torch.randn(shape, generator=gen)
        elif name.endswith("running_var"):
            out[name] = 1 + 0.2 * torch.rand(shape, generator=gen)
        else:  # bn.bias, bn.running_mean, fc.weight, fc.bias
            out[name] = 0.1 * torch.randn(shape, generator=gen)
    return out


def reference_inputs() -> torch.Tensor:
    """Two seeded 28x28 grey images with 256 pixel levels."""
    gen = torch.Generator().manual_seed(INPUT_SEED)
    return torch.randint(0, 256, (2, 1, 28, 28), generator=gen)


def preprocess(x: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """The FID ports' input: [0, 1], grey to RGB, bilinear resize to 299x299, then [-1, 1]."""
    x = x.float() / (levels - 1)
    x = x.expand(-1, 3, -1, -1)
    return 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1


def _torchvision_networks():
    from torchvision.models import inception as tv

    class FIDInceptionA(tv.InceptionA):  # pool branch: average that leaves out the padding
        def forward(self, x):
            outs = [self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                    self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                    self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))]
            return torch.cat(outs, 1)

    class FIDInceptionC(tv.InceptionC):
        def forward(self, x):
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            d = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))))
            return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))], 1)

    class FIDInceptionE(tv.InceptionE):
        def __init__(self, c_in, pool):
            super().__init__(c_in)
            self.pool = pool

        def forward(self, x):
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
            pooled = (F.max_pool2d(x, 3, 1, 1) if self.pool == "max"
                      else F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
            return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)

    def pool3(net, x):  # torchvision's forward up to the average pool, without transform_input
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                     "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"):
            x = getattr(net, name)(x)
        return x.flatten(1)

    fid = tv.Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
    fid.Mixed_5b, fid.Mixed_5c, fid.Mixed_5d = FIDInceptionA(192, 32), FIDInceptionA(256, 64), FIDInceptionA(288, 64)
    fid.Mixed_6b, fid.Mixed_6c = FIDInceptionC(768, 128), FIDInceptionC(768, 160)
    fid.Mixed_6d, fid.Mixed_6e = FIDInceptionC(768, 160), FIDInceptionC(768, 192)
    fid.Mixed_7b, fid.Mixed_7c = FIDInceptionE(1280, "avg_no_pad"), FIDInceptionE(2048, "max")
    standard = tv.Inception3(num_classes=1000, aux_logits=False, transform_input=False, init_weights=False)
    return {"fid": fid, "torchvision": standard}, pool3


@torch.no_grad()
def main() -> None:
    networks, pool3 = _torchvision_networks()
    x = preprocess(reference_inputs())
    result = {"weight_seed": WEIGHT_SEED, "input_seed": INPUT_SEED, "torch": torch.__version__}
    for name, net in networks.items():
        state = fill_weights(net.state_dict())
        net.load_state_dict(state)
        result[name] = {"parameters": {k: list(v.shape) for k, v in sorted(state.items())},
                        "features": [[float(f"{v:.8g}") for v in row] for row in pool3(net.eval(), x).tolist()]}
    REFERENCE_FILE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE_FILE.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {REFERENCE_FILE}")


if __name__ == "__main__":
    main()
