"""``genlab compare``: every run on the same data, scored the same way, in one report.

For each run: its family, size and training time; the test NLL where the family has one, in its
data's unit (exact or bound, labelled, never ranked against each other); the sample-quality
metrics of the data's kind (:mod:`genlab.evaluation.scorers`: images and audio with one feature
network, piano rolls by their statistics); the sampling time per sample; and a picture of its
samples (with WAV or MIDI files to listen to for audio and music). A reference row scores training
examples the same way, so the numbers have a floor to be read against. The report is written as
``report.md``, a self-contained ``report.html`` (pictures inlined) and ``results.json``.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
from pathlib import Path
from typing import Any

import torch

from .devices import pick_device
from .errors import ConfigError
from .evaluation.likelihood import evaluate
from .evaluation.quality import public, sample_quality
from .evaluation.scorers import Scorer, check_sample_kwargs, check_taken, features_for, get_scorer
from .evaluation.store import stored_evaluation
from .models.io import atomic_write_text, load, read_config
from .provenance import record, stamp_changed, tree_states
from .progress import reporting
from .runs.run import check_data_matches, find_saved_model, load_run_data, read_run_file, resolve_weights


def _weights_folder(run: Path) -> Path:
    return resolve_weights(run, "best")


def _data_key(run: str | Path) -> str:
    """The run's data spec as a string: runs with equal keys share one loaded data set."""
    return json.dumps(read_run_file(run)["data"], sort_keys=True)


def _run_data(run: Path, data_root: str | None, cache: dict[str, Any]):
    """A run's data set, loaded once per distinct data spec."""
    key = _data_key(run)
    if key not in cache:
        cache[key] = load_run_data(run, data_root)
    return cache[key]


def compare_runs(runs: list[str | Path], out: str | Path, net, num_samples: int | None = None, seed: int = 0,
                 data_root: str | None = None, sample_kwargs: dict[str, Any] | None = None,
                 progress: bool = True, first_data=None, device: str = "cpu",
                 skip_likelihood: bool = False, scorer: Scorer | None = None) -> dict[str, Any]:
    """Score every run in ``runs`` and write the report into the folder ``out``; returns the results.

    ``scorer``: how the runs are judged (default: the sample scorer of the data's kind with the
    feature network ``net``: a feature extractor, or a folder or Inception weights file, or None for the data's
    default ``features/<data name>``; models of an input, a video predictor or an image-to-image model, are
    judged by a :class:`TruthScorer` instead, without one).

    ``num_samples`` defaults to DESIGN.md's protocol (10,000, or the test split's size where
    smaller). ``sample_kwargs`` go to every model's ``sample`` (e.g. ``sampler="ddim", steps=50``);
    a model ignores settings it does not take. ``first_data``: the first run's data set, if the
    caller has loaded it already. ``device``: where sampling and scoring run ("cpu", "cuda",
    "auto"); the sampling time per image is measured there. The test NLL of a run is stored in
    its folder (:mod:`genlab.evaluation.store`) and reused while its weights and the settings are
    the same; ``skip_likelihood`` leaves the NLL out.
    """
    if not runs:
        raise ConfigError("name at least one run folder to compare")
    out = Path(out)
    sample_kwargs = dict(sample_kwargs or {})
    dev = pick_device(device)
    data, rows, cache = None, [], {}
    if first_data is not None:
        cache[_data_key(runs[0])] = first_data
    # every run, its data, the scorer and the sampler settings are checked before any work (a setting
    # no run can use must not fail after minutes of sampling)
    loaded = []
    for run in map(Path, runs):
        run_data = _run_data(run, data_root, cache)
        folder = _weights_folder(run)
        model = load(folder)  # on the CPU while every run is checked; each goes to the device in its turn
        check_data_matches(model.data_info, run_data.info, folder)
        if data is None:
            data = run_data
            if scorer is None and run_data.info.modality.scored_against_truth(model):  # prediction, image-to-image
                if net is not None or sample_kwargs:
                    raise ConfigError(f"runs of '{model.name}' are scored against the truth; drop --features and "
                                      "--sample-arg")
                scorer = TruthScorer(run_data, run_data.info.modality.truth_scorer, truth_scorer(model))
            elif scorer is None:
                if net is None or isinstance(net, (str, Path)):  # a folder or weights file, or the data's default
                    net = features_for(run_data, None if net is None else str(net))
                net = net.to(dev) if net is not None else None
                scorer = get_scorer(run_data, net)
        elif run_data.info.to_dict() != data.info.to_dict():
            raise ConfigError(f"'{run}' was trained on '{run_data.info.name}', the first run on '{data.info.name}'; "
                              "compare runs on the same data")
        if isinstance(scorer, TruthScorer) != data.info.modality.scored_against_truth(model):
            raise ConfigError(f"'{run}' holds model '{model.name}', which is not judged like the first run's (against "
                              "the truth, or by its samples); compare it with runs of its own kind")
        check_sample_kwargs(model, sample_kwargs)
        scorer.check_sample_kwargs(sample_kwargs)
        loaded.append((run, folder, model))
    check_taken([model for _, _, model in loaded], sample_kwargs)
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused comparison leaves nothing behind
    for i, (run, folder, model) in enumerate(loaded):
        model = model.to(dev)
        if progress:
            print(f"[{i + 1}/{len(runs)}] {run}: {model.name}", flush=True)
        # the run's own totals come from its last checkpoint; the weights may be the best ones
        meta = read_config(find_saved_model(run, "checkpoint") or folder)
        row: dict[str, Any] = {"run": str(run), "model": model.name, "family": model.family,
                               "parameters": model.num_parameters(), "steps": meta.get("step"),
                               "train_seconds": meta.get("train_seconds"), "likelihood": model.likelihood}
        if model.likelihood != "none" and not skip_likelihood:
            kwargs = dict(model.compare_log_prob_kwargs)
            split = scorer.nll_split  # text data has no test split: its validation split
            settings = {"kind": "likelihood", "data": data.info.name, "split": split, "seed": 0, **kwargs}
            nll, reused = stored_evaluation(run, folder, settings,
                                            lambda m=model, d=data, kw=kwargs, s=split: evaluate(m, d, s,
                                                                                                 progress=progress, **kw))
            row.update(nll_nats=nll["nll_nats"], nll=nll[scorer.nll_key], nll_settings=kwargs, nll_reused=reused)
            if "bits_per_dim" in nll:
                row["bits_per_dim"] = nll["bits_per_dim"]
        with reporting(f"[{i + 1}/{len(runs)}] {run.name} samples", progress):  # bars with the time left, on stderr
            quality = sample_quality(model, data, net, None, num_samples=num_samples, seed=seed, reference=scorer,
                                     **sample_kwargs)
        before = tree_states(out)
        row.update(public(quality), **scorer.pictures(quality, out / f"samples-{i + 1}-{model.name}"))
        stamp_changed(out, before, record(model=model.name, weights_sha256=read_config(folder).get("weights_sha256"),
                                          run=str(run.resolve()), weights=str(folder.resolve()), step=meta.get("step"),
                                          seed=seed, sampling=sample_kwargs, command="compare", kind=data.info.kind))
        rows.append(row)
        model.to("cpu")  # one model on the device at a time
    num_samples = rows[0]["num_samples"]
    # the floor: training examples scored exactly like samples (or, for models of an input, a baseline)
    floor = scorer.score_data(num_samples, seed)
    if floor is not None:
        pictures = scorer.pictures(floor, out / "samples-0-data")
        floor = {"model": "data", "family": "-", **public(floor), "run": scorer.floor_label, **pictures}
    inception = net is not None and not getattr(net, "has_data_classes", True)
    report = {"data": data.info.name, "kind": data.info.kind, **scorer.features_text(),
              "scorer": getattr(scorer, "name", data.info.kind),
              "feature_kind": None if net is None else "inception" if inception else "genlab",
              "nll_header": scorer.nll_header, "columns": [list(c) for c in scorer.columns],
              "num_samples": num_samples, "seed": seed, "sample_settings": sample_kwargs, "device": str(dev),
              "date": datetime.date.today().isoformat(), "runs": rows, "reference": floor}
    report["notes"] = _notes(report, scorer)
    atomic_write_text(out / "results.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out / "report.md", markdown(report))
    atomic_write_text(out / "report.html", html_page(report, out))
    return report


def compare(runs: list[str | Path], out: str | Path, features: Any, **kwargs: Any) -> dict[str, Any]:
    """Python entry point of ``genlab compare``.

    ``features``: a feature extractor (a :class:`FeatureNet` or Inception features), a feature
    network folder, or an Inception-v3 weights file.
    """
    return compare_runs(runs, out, features, **kwargs)


def columns(report: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The report's table columns, ``(header, key, decimals)``: the run, its cost and likelihood,
    then its kind's sample metrics."""
    return [("model", "model", 0), ("family", "family", 0), ("parameters", "parameters", 0),
            ("training (s)", "train_seconds", 1), (report["nll_header"], "_nll", 0),
            *[tuple(c) for c in report["columns"]], ("ms per sample", "_ms", 0)]


def _cell(row: dict[str, Any], key: str, decimals: int) -> str:
    if key == "_nll":
        if row.get("nll") is None:
            return "none" if row.get("likelihood") == "none" else "-"
        kind = "exact" if row["likelihood"] == "exact" else "bound"
        return f"{row['nll']:.3f} ({kind})"
    if key == "_ms":
        value = row.get("sampling_s_per_image")
        return "-" if value is None else f"{value * 1000:.3g}"
    value = row.get(key)
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.{decimals}f}"
    return "-" if value is None else str(value)


def _notes(report: dict[str, Any], scorer) -> list[str]:
    notes = scorer.notes(report)
    if isinstance(scorer, TruthScorer):
        return notes
    notes.insert(1, "Test NLL: exact values and bounds (upper bounds on the NLL) are listed side by side but are not "
                    "ranked against each other; GANs and other models without a likelihood show 'none'.")
    estimated = {r["model"]: r["nll_settings"] for r in report["runs"] if r.get("nll_settings")}
    if estimated:
        notes.append("NLL settings: " + "; ".join(f"{m}: {s}" for m, s in estimated.items()) +
                     " (timestep_samples: an unbiased estimate of the full bound).")
    if report["sample_settings"]:
        notes.append(f"Sampler settings given to every model: {report['sample_settings']}.")
    return notes


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The reference row (if any), then the runs."""
    return ([report["reference"]] if report["reference"] else []) + report["runs"]


def markdown(report: dict[str, Any]) -> str:
    rows = _rows(report)
    cols = columns(report)
    lines = [f"# genlab compare: {report['data']} ({report['date']})", "",
             "| run | " + " | ".join(h for h, _, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['run']} | " + " | ".join(_cell(row, k, d) for _, k, d in cols) + " |")
    lines += [""] + [f"- {n}" for n in report["notes"]] + ["", "## Samples", ""]
    for row in (r for r in rows if r.get("grid")):
        listen = f" (listen: `{row['listen']}/`)" if row.get("listen") else ""
        lines += [f"**{row['run']}** ({row['model']}){listen}", "", f"![{row['model']}]({row['grid']})", ""]
    for row in (r for r in rows if r.get("text")):
        lines += [f"**{row['run']}** ({row['model']}): [{row['text']}]({row['text']})", ""]
    nearest = [row for row in rows if row.get("nearest_grid")]
    if nearest:
        lines += ["## Nearest training images", "", "Top row of each picture: samples; bottom row: the training image "
                  "nearest to each (in pixels). A copy shows as a pair of identical images.", ""]
        for row in nearest:
            lines += [f"**{row['run']}** ({row['model']})", "", f"![{row['model']} nearest]({row['nearest_grid']})", ""]
    return "\n".join(lines) + "\n"


def html_page(report: dict[str, Any], folder: Path) -> str:
    rows = _rows(report)
    esc = html.escape
    cols = columns(report)
    head = "".join(f"<th>{esc(h)}</th>" for h, _, _ in cols)
    body = "".join("<tr><td>" + esc(row["run"]) + "</td>" + "".join(f"<td>{esc(_cell(row, k, d))}</td>"
                                                                     for _, k, d in cols) + "</tr>" for row in rows)
    def figure(row: dict[str, Any], key: str) -> str:
        data = base64.b64encode((folder / row[key]).read_bytes()).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(row["model"])}">'
                f"<figcaption>{esc(row['run'])} ({esc(row['model'])})</figcaption></figure>")

    figures = [figure(row, "grid") for row in rows if row.get("grid")]
    nearest = [figure(row, "nearest_grid") for row in rows if row.get("nearest_grid")]
    if nearest:
        figures += ["<h2>Nearest training images</h2><p>Top row of each picture: samples; bottom row: the training "
                    "image nearest to each (in pixels).</p>", *nearest]
    notes = "".join(f"<li>{esc(n)}</li>" for n in report["notes"])
    style = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
             "figure{display:inline-block;margin:8px;text-align:center;vertical-align:top}"
             "img{image-rendering:pixelated;width:auto;height:auto;max-width:100%}")  # each grid in its own aspect
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>genlab compare: {esc(report['data'])}</title>"
            f"<style>{style}</style></head><body><h1>genlab compare: {esc(report['data'])} ({esc(report['date'])})</h1>"
            f"<table><tr><th>run</th>{head}</tr>{body}</table><ul>{notes}</ul><h2>Samples</h2>{''.join(figures)}"
            "</body></html>\n")


# ---- models judged against the truth (video prediction, super-resolution, translation) -----------
TRUTH_COLUMNS = {  # scorer -> (header, key, decimals), after model / family / parameters / training / NLL
    "prediction": [("MSE per frame", "mse_per_frame", 2), ("MAE per frame", "mae_per_frame", 2), ("SSIM", "ssim", 4),
                   ("ms per clip", "ms_per_clip", 1)],
    "restoration": [("PSNR (dB)", "psnr", 3), ("SSIM", "ssim", 4), ("L1", "l1", 4), ("ms per image", "ms_per_image", 1)],
}


def truth_scorer(model):
    """The function that scores ``model`` against the truth, by its modality's ``truth_scorer``."""
    from .evaluation.prediction import evaluate_prediction
    from .tasks.superres import evaluate_restoration as restoration

    modality = model.data_info.modality
    scorers = {"restoration": restoration, "prediction": evaluate_prediction}
    if not modality.scored_against_truth(model) or modality.truth_scorer not in scorers:
        raise ConfigError(f"model '{model.name}' is not scored against the truth; judge it by likelihood or samples")
    return scorers[modality.truth_scorer]


class TruthScorer(Scorer):
    """The scorer of models of an input (video prediction, super-resolution, translation): each run's
    model on the first ``num_samples`` clips or images of ``split`` (all by default), scored against
    the truth by its modality's metrics (``score`` = :func:`truth_scorer`'s function:
    MSE / MAE per frame and SSIM for video prediction, PSNR / SSIM on Y and L1 for image-to-image
    models). The floor row is copying the last context frame, where the metrics give it."""

    kind = "truth"  # chosen by the model, not registered for a data kind
    needs_features = False
    floor_label = "copy the last context frame"

    def __init__(self, data, name: str, score, split: str = "test"):
        if data.split(split) is None:
            raise ConfigError(f"data set '{data.info.name}' has no {split} split to score against")
        self.data, self.net, self.name, self.score, self.split = data, None, name, score, split
        self.columns = TRUTH_COLUMNS.get(name, [])
        self.baseline = None

    def default_num_samples(self) -> int | None:
        return None  # every example of the split

    def score_model(self, model, num_samples=None, seed=0, metrics=None, batch_size=None, **sample_kwargs):
        if sample_kwargs:
            raise ConfigError(f"runs of '{model.name}' are scored against the truth; drop --sample-arg")
        scores = self.score(model, self.data.split(self.split), max_examples=num_samples)
        if "copy_last" in scores and self.baseline is None:
            self.baseline = {**scores["copy_last"], "num_examples": scores.get("num_examples")}
        return {**scores, "num_samples": scores.get("num_examples"), "_model": model}

    def score_data(self, num_samples, seed=0):
        return None if self.baseline is None else dict(self.baseline, model="copy-last")

    def pictures(self, result, stem):
        """For video prediction, a filmstrip of the first 4 clips: the truth and under it the predictions."""
        if self.name != "prediction" or "_model" not in result:
            return {}
        from PIL import Image

        from .data.modalities.video import prediction_filmstrip

        model, split = result["_model"], self.data.split(self.split)
        clips = split.get(torch.arange(min(4, len(split))))["x"]
        tc = result["context_frames"]
        with torch.no_grad():
            predicted = model.sample(len(clips), condition=clips[:, :tc].to(model.device)).cpu()
        picture = stem.with_name(stem.name.replace("samples-", "predictions-", 1) + ".png")
        Image.fromarray(prediction_filmstrip(predicted, clips, tc, self.data.info.levels)).save(picture)
        return {"grid": picture.name}

    def notes(self, report):
        n = report["runs"][0].get("num_examples", "-")
        notes = [f"Scored against the truth on the {self.split} split ({n} examples), {self.name} metrics"
                 + (": errors summed over a frame's pixels in [0, 1], averaged over the predicted frames and the "
                    "clips. Pictures: per clip, the truth (context, then the real future) and under it the model's "
                    "predicted frames." if self.name == "prediction" else ".")]
        return notes
