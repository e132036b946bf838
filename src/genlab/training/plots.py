"""Training pictures; they live in :mod:`genlab.plots` (shared with evaluation) and are re-exported here."""

from ..plots import image_grid, save_curve, save_image_grid

__all__ = ["image_grid", "save_curve", "save_image_grid"]
