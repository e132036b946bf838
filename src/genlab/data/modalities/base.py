"""The :class:`Modality` interface and the registry of modalities by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from ...errors import DataError
from ...lookup import Lookup

_MODALITIES: "Lookup[Modality]" = Lookup("kind of data", DataError)


def register_modality(cls: type["Modality"]) -> type["Modality"]:
    """Class decorator: make ``cls`` the modality of data whose ``DataInfo.kind`` is ``cls.name``."""
    _MODALITIES.add(cls.name, cls(), same=lambda old, new: type(old) is type(new))
    return cls


def get_modality(name: str) -> "Modality":
    """The registered modality called ``name`` (the ``kind`` saved in a model's data info)."""
    return _MODALITIES.get(name)


def list_modalities() -> dict[str, str]:
    """Registered modalities with a one-line description each."""
    return {name: (type(m).__doc__ or "").strip().splitlines()[0] for name, m in sorted(_MODALITIES.items())}


class Modality:
    """One kind of data. Subclasses set the class attributes and implement the methods.

    Attributes:
        name: the ``DataInfo.kind`` this modality describes ("image", "text", ...).
        unit: what one likelihood term is per ("image", "token", "audio sample", "time step").
        sample_suffix: the file suffix :meth:`render` writes (".png", ".txt", ...); "" for a folder.
        display_suffix: the file :meth:`render` writes for a person to look at or play (the server's
            answer): :attr:`sample_suffix` unless a richer one exists (video: an animated ".gif").
        writes_folder: :meth:`render` can write a folder of files (audio: one WAV per sample; piano
            rolls: one MIDI file per sample), so an existing folder is a fine ``--out``.
        default_num_samples: how many samples ``genlab sample`` draws when not told.
        sample_quality: whether Fréchet distance and the other sample-quality metrics apply.
        reads_as_text: samples are shown on the terminal (``genlab sample`` without ``--out``).
        fields: the batch fields a split of this modality yields, with a description each.
        condition_field: for image-to-image kinds (super-resolution, translation), the batch field
            of the input image a model generates from; "" for other kinds.
        input_task: the task (:mod:`genlab.tasks`) a model of this kind is run with, for kinds
            whose models make one picture from another and cannot sample alone: ``superres``,
            ``translate``; "" for others.
        truth_scorer: the metrics ``genlab eval`` and ``genlab compare`` score a model of this kind
            against the truth with, where :meth:`scored_against_truth` says so: "restoration"
            (PSNR, SSIM, L1) or "prediction" (MSE and SSIM per predicted frame).
    """

    name: ClassVar[str] = ""
    unit: ClassVar[str] = ""
    sample_suffix: ClassVar[str] = ""
    display_suffix: ClassVar[str | None] = None  # None: the sample_suffix
    writes_folder: ClassVar[bool] = False
    default_num_samples: ClassVar[int] = 16
    sample_quality: ClassVar[bool] = False
    reads_as_text: ClassVar[bool] = False
    fields: ClassVar[dict[str, str]] = {}
    condition_field: ClassVar[str] = ""  # the input image field, for kinds whose models make one image from another
    input_task: ClassVar[str] = ""  # the task such a model runs with (genlab.tasks), when it needs an input
    truth_scorer: ClassVar[str] = ""  # how `genlab eval` scores a model judged against the truth: "restoration", ...

    @property
    def default_output(self) -> str:
        """The name of what ``genlab sample`` writes without ``--out`` (in the run folder) and the server
        writes per request: the file a person opens (``samples.png``, ``samples.gif``), or the folder
        ``samples`` for kinds whose samples are several files of their own (audio, piano rolls)."""
        suffix = self.display_suffix if self.display_suffix is not None else self.sample_suffix
        return f"samples{suffix}" if suffix else "samples"

    def scored_against_truth(self, model) -> bool:
        """Whether ``genlab eval`` scores ``model`` against the truth (by :attr:`truth_scorer`) rather
        than by likelihood and sample quality: models of an input image (super-resolution,
        translation) and video prediction models are."""
        return bool(self.condition_field)

    # ---- data facts ---------------------------------------------------------------------------
    def check_info(self, info) -> None:
        """Raise :class:`DataError` if ``info`` lacks a fact this modality needs."""

    def model_fields(self, info) -> dict[str, Any]:
        """Model config fields the data decides (``{"image_shape": [1, 8, 8], "levels": 17}``)."""
        return {}

    # ---- likelihood ---------------------------------------------------------------------------
    def likelihood_report(self, info, total_nats: float, num_examples: int, split) -> dict[str, Any]:
        """NLL in this modality's units from ``total_nats`` summed over ``num_examples`` items of ``split``."""
        raise NotImplementedError

    def describe_likelihood(self, result: dict[str, Any]) -> list[str]:
        """Lines for a person: the NLL with its unit, and the per-dimension figure."""
        raise NotImplementedError

    # ---- people -------------------------------------------------------------------------------
    def preview(self, num_samples: int, split=None) -> tuple[int, dict[str, Any]]:
        """How many samples the trainer draws for its previews, and the ``sample`` arguments it uses.

        ``split`` is the data the trainer holds (validation, else training): a modality whose
        models need an input to generate from (a low-resolution image, a source image) takes the
        first examples' inputs from it.
        """
        return num_samples, {}

    def render(self, info, samples: torch.Tensor, path: str | Path) -> Path:
        """Write ``samples`` for a person to the file (or folder) ``path``; returns ``path``. See
        :meth:`write_files`, which says what was written."""
        self.write_files(info, samples, path)
        return Path(path)

    def write_files(self, info, samples: torch.Tensor, path: str | Path) -> list[Path]:
        """Write ``samples`` for a person to the file ``path`` (:attr:`sample_suffix` is the usual suffix), or
        into the folder ``path`` for a modality that writes several files; returns every file written (what
        provenance stamps, and what a server answers with), never found by looking at the disk afterwards."""
        raise NotImplementedError

    def to_text(self, info, samples: torch.Tensor) -> str | None:
        """The samples as text for a terminal, where that is how a person reads them; else None."""
        return None

    def parse(self, info, value: Any) -> torch.Tensor:
        """A user's input (a prompt, a file path...) as model input of this modality."""
        raise DataError(f"{self.name} data takes no parsed input")

    def example_file(self, info, split, index: int) -> tuple[bytes, str]:
        """``(bytes, media type)`` of example ``index`` of ``split`` as a file a person opens (a PNG, a
        text line, a WAV, a MIDI file, a GIF): what ``GET /api/examples`` answers."""
        raise DataError(f"{self.name} examples cannot be shown as a file")

    def parse_content(self, info, value: str) -> torch.Tensor:
        """A prompt given as content (a request's body), never as a path: what the server takes.
        A modality whose :meth:`parse` reads files overrides this to read the content itself."""
        raise DataError(f"{self.name} models take no prompt in a request")
