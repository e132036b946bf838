"""Tasks as registered objects: what a trained model is used for besides sampling.

A :class:`Task` has a name (also its server route, ``POST /api/models/{id}/{name}``), the models it
supports, the library function that runs it, its options and its command line. A modality names
the task its models need to generate at all (:attr:`~genlab.data.modalities.Modality.input_task`:
a super-resolution model enlarges a picture it is given). The CLI, the service, the server and the
playground ask this table which tasks a model does, instead of matching command strings.

Adding a task is one module of :mod:`genlab.tasks` that calls :func:`register_task` (and its CLI
command and route, which the task's ``command`` names).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..lookup import Lookup


@dataclasses.dataclass(frozen=True)
class Task:
    """One use of a trained model (see the module docstring).

    Attributes:
        name: the task's name: ``inpaint``, ``superres``, ``translate``.
        summary: one line, what it does.
        command: how a person runs it (``genlab superres RUN IMAGE... --out DIR``).
        supports: whether a loaded model does the task.
        run: the library function (``genlab.tasks.superres.upscale``...).
        options: the task's own settings, each with what it does.
    """

    name: str
    summary: str
    command: str
    supports: Callable[[Any], bool]
    run: Callable[..., Any]
    options: dict[str, str] = dataclasses.field(default_factory=dict)


_TASKS: Lookup[Task] = Lookup("task")


def register_task(task: Task) -> Task:
    return _TASKS.add(task.name, task, same=lambda old, new: old.run is new.run)


def get_task(name: str) -> Task:
    return _TASKS.get(name)


def list_tasks() -> dict[str, str]:
    """The registered tasks with their one-line summaries."""
    return {name: task.summary for name, task in _TASKS.items()}


def tasks_for(model) -> list[Task]:
    """The tasks ``model`` does, in registration order."""
    return [task for task in _TASKS.values() if task.supports(model)]


def model_input_task(model) -> Task | None:
    """The task a model of an input picture is run with (it cannot sample on its own), or None."""
    name = model.data_info.modality.input_task
    return get_task(name) if name else None


def modality_task(name: str) -> Callable[[Any], bool]:
    """``supports`` for a task whose models are those whose modality names it as their input task."""
    return lambda model: model.data_info.modality.input_task == name
