"""Tasks reuse trained models without retraining, each a registered :class:`~.base.Task`.

:mod:`genlab.tasks.inpaint` fills the unknown pixels of images with a trained DDPM, PixelCNN or
VAE (:mod:`genlab.tasks.masks` makes the masks it takes); :mod:`genlab.tasks.superres` enlarges
pictures; :mod:`genlab.tasks.translate` translates them; :mod:`genlab.tasks.interpolate` walks the
latent space between two pictures. Importing this package registers them.
"""

from . import inpaint, interpolate, superres, translate  # noqa: F401  (registers the tasks)
from .base import Task, get_task, list_tasks, model_input_task, register_task, tasks_for  # noqa: F401
