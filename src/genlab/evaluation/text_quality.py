"""Text runs in `genlab compare`: judged by their likelihood per character on held-out text.

There is no sample-quality metric for text yet (a Fréchet distance needs a text feature network),
so the report's sample columns are empty and the notes say so; each run's samples are written as a
text file beside the report, so a person can read them. Text data sets have no test split (90%
train, 10% validation), so the held-out NLL is the validation split's, the same for every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .scorers import Scorer, draw, register_scorer

SAMPLES = 4  # texts drawn per run for the report
SAMPLE_TOKENS = 200


@register_scorer
class TextScorer(Scorer):
    """Text: likelihood per character only; a few samples written for reading."""

    kind = "text"
    needs_features = False
    nll_key = "nll_nats"
    nll_header = "held-out NLL (nats/char)"
    columns: list = []
    floor_label = "-"

    def __init__(self, data, net=None):
        self.data, self.net = data, None  # no test split needed: the held-out split is named by nll_split

    @property
    def nll_split(self) -> str:
        return "test" if self.data.test is not None else "val"

    def default_num_samples(self) -> int:
        return SAMPLES

    def score_model(self, model, num_samples=None, seed=0, metrics=None, batch_size=None, **sample_kwargs: Any):
        n = num_samples or SAMPLES
        sample_kwargs.setdefault("max_new_tokens", SAMPLE_TOKENS)
        texts, per_sample = draw(model, n, batch_size or n, seed, **sample_kwargs)
        return {"num_samples": n, "sampling_s_per_image": per_sample, "_samples": texts}

    def score_data(self, num_samples: int, seed: int = 0):
        return None  # no floor row: nothing to score the data by

    def pictures(self, result: dict[str, Any], stem: Path) -> dict[str, str]:
        from ..files import atomic_write_text

        info = self.data.info
        path = stem.with_suffix(".txt")
        atomic_write_text(path, info.modality.to_text(info, result["_samples"]) + "\n")
        return {"text": path.name}

    def notes(self, report: dict[str, Any]) -> list[str]:
        split = {"val": "validation", "test": "test"}[self.nll_split]
        return [f"Text runs are compared by their exact likelihood per character on the {split} split (text data sets "
                "have no test split: the last 10% of the file validates); lower is better.",
                "There are no sample-quality metrics for text yet, so those columns are empty; each run's samples "
                f"({report['num_samples']} texts) are in the report's samples-N-MODEL.txt files."]
