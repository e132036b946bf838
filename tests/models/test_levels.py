"""Levels <-> floats (genlab.nn.levels): both conventions round-trip every level exactly."""

from __future__ import annotations

import pytest
import torch

from genlab.nn.levels import bins_to_float, float_to_bins, float_to_grid, grid_to_float


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_grid_round_trips_and_hits_the_ends(levels):
    x = torch.arange(levels)
    for signed in (False, True):
        y = grid_to_float(x, levels, signed=signed)
        assert float(y[0]) == (-1.0 if signed else 0.0) and float(y[-1]) == 1.0
        assert torch.equal(float_to_grid(y, levels, signed=signed), x)
        step = (2.0 if signed else 1.0) / (levels - 1)  # a nudge under half a step keeps the level
        assert torch.equal(float_to_grid(y + 0.49 * step, levels, signed=signed), x.clamp(max=levels - 1))


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_bins_round_trip_with_and_without_dequantisation(levels):
    x = torch.arange(levels).repeat(50)
    torch.manual_seed(0)
    y = bins_to_float(x, levels, dequantize=True)
    assert float(y.min()) >= -1.0 and float(y.max()) < 1.0
    assert torch.equal(float_to_bins(y, levels), x)  # every draw stays in its level's bin
    centres = bins_to_float(torch.arange(levels), levels, dequantize=False)
    torch.testing.assert_close(centres, (2 * torch.arange(levels) + 1) / levels - 1.0)
    assert torch.equal(float_to_bins(torch.tensor([-5.0, 5.0]), levels), torch.tensor([0, levels - 1]))
