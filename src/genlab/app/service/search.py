"""De-duplication of a data set and nearest-neighbour search of its training examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError
from ...runs import RUN_FILE, is_run_folder
from .evaluation import load_features
from .models import check_count
from .pictures import read_source_image


# ---- de-duplication and nearest-neighbour search ------------------------------------------------------
# what `genlab data dedup` writes
DEDUP_FILES = ("report.json", "report.md", "exclude.txt", "exclude-overlap.txt", "duplicates.png", "overlap.png")
MAX_GROUPS_SHOWN = 16  # rows of duplicates.png and groups listed in report.md
MAX_K = 1000


def indexed_data(run_or_data: str | Path, data_root: str | None = None, options: dict[str, Any] | None = None):
    """The data set searched for ``run_or_data``: a run's data (from its run.json, with every training
    example, so indices are the data set's own even when the run left some out), else a data set name
    or spec (``mnist``, ``images:DIR``) loaded with ``options``."""
    from ...data import load_dataset
    from ...runs import read_run_file

    if is_run_folder(run_or_data):
        if options:
            raise ConfigError("--data-arg is for a data set name; a run's data comes from its run.json")
        spec = read_run_file(run_or_data)["data"]
        return load_dataset(spec["name"], root=data_root, tokenizer=spec.get("vocab"), **spec.get("options", {}))
    if Path(run_or_data).is_dir() and ":" not in str(run_or_data):
        raise ConfigError(f"'{run_or_data}' is a folder but not a training run (no {RUN_FILE}), so it names no data; "
                          "give a run folder, a data set name, or images:DIR for a folder of pictures")
    return load_dataset(str(run_or_data), root=data_root, **(options or {}))


def _embedding_net(data, features: str | None):
    """The feature network for ``--features`` (images only), else None: the perceptual embedding."""
    return load_features(data, features) if features else None


def dedup(data_name: str | Path, out: str | Path, *, split: str = "train", threshold: float | None = None,
          features: str | None = None, against: str | None = "auto", data_root: str | None = None,
          options: dict[str, Any] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Find the exact and near duplicates within ``split`` of a data set (or a run's data) and how many
    held-out examples have a duplicate in it (:func:`genlab.evaluation.dedup.find_duplicates`); write
    ``out/report.json``, ``report.md``, ``exclude.txt`` (for ``genlab train --exclude``: the duplicates
    within ``split``), ``exclude-overlap.txt`` (the ``split`` twins of held-out examples, against leakage)
    and, for images, ``duplicates.png`` and ``overlap.png``. Returns the report (with ``files`` and ``seconds``)."""
    import time

    from ...evaluation.dedup import find_duplicates
    from ...files import atomic_write_text, storage_errors

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder for the report")
    taken = [out / f for f in DEDUP_FILES if (out / f).exists()]
    if taken and not overwrite:
        raise ConfigError(f"'{taken[0]}' already exists; give another --out folder, remove it, or pass --overwrite")
    start = time.perf_counter()
    data = indexed_data(data_name, data_root, options)
    net = _embedding_net(data, features)
    report = find_duplicates(data, net, split=split, threshold=threshold, against=against)
    report["seconds"] = round(time.perf_counter() - start, 1)
    with storage_errors(out):
        out.mkdir(parents=True, exist_ok=True)
    files = [out / "report.json", out / "report.md", out / "exclude.txt"]
    for stale in (out / "duplicates.png", out / "overlap.png", out / "exclude-overlap.txt"):
        if overwrite and stale.exists():
            stale.unlink()
    if hasattr(data.split(split), "images"):
        files += _dedup_pictures(data, report, out)
    header = (f"# genlab data dedup {data.info.name}: {len(report['exclude'])} {split} examples to leave out "
              f"(one kept per group), threshold {report['threshold']}\n")
    atomic_write_text(out / "exclude.txt", header + "".join(f"{line}\n" for line in report["exclude"]))
    if "overlap" in report:
        o = report["overlap"]
        files.append(out / "exclude-overlap.txt")
        atomic_write_text(out / "exclude-overlap.txt",
                          f"# genlab data dedup {data.info.name}: the {len(o['train_twins'])} {split} examples nearest "
                          f"to the {o['near']} {o['split']} examples with a near duplicate in {split} (threshold "
                          f"{report['threshold']})\n" + "".join(f"{split}:{i}\n" for i in o["train_twins"]))
    report["files"] = [str(f) for f in files]
    atomic_write_text(out / "report.md", dedup_markdown(report))
    import json

    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    return report


def _dedup_pictures(data, report: dict[str, Any], out: Path) -> list[Path]:
    """``duplicates.png`` (a row per group, up to 8 members) and ``overlap.png`` (held-out example, then its
    nearest training example) when there is something to show."""
    from ...data.modalities import save_image_grid

    written = []
    split = data.split(report["split"])
    groups = report["near"]["groups"][:MAX_GROUPS_SHOWN]
    if groups:
        blank = torch.zeros_like(split.images[0])
        rows = [split.images[g["indices"][i]] if i < len(g["indices"]) else blank for g in groups for i in range(8)]
        written.append(save_image_grid(torch.stack(rows), data.info.levels, out / "duplicates.png", nrow=8))
    pairs = report.get("overlap", {}).get("pairs", [])[:MAX_GROUPS_SHOWN]
    if pairs:
        held = data.split(report["overlap"]["split"])
        rows = [img for p in pairs for img in (held.images[p["example"]], split.images[p["train"]])]
        written.append(save_image_grid(torch.stack(rows), data.info.levels, out / "overlap.png", nrow=2))
    return written


def dedup_markdown(report: dict[str, Any]) -> str:
    """The report of :func:`dedup` for a person."""
    split, near, exact = report["split"], report["near"], report["exact"]
    lines = [f"# Duplicates in {report['data']} ({split})", "",
             f"- examples: {report['examples']:,} ({report['example']} each)",
             f"- embedding: {report['embedding']}; distance: {report['distance']}; threshold {report['threshold']}",
             f"- exact duplicates (same SHA-256): {len(exact['groups']):,} groups, {exact['duplicates']:,} copies "
             "beyond the first",
             f"- near duplicates (exact included): {len(near['groups']):,} groups, {near['duplicates']:,} examples "
             "beyond the first of each: listed in exclude.txt",
             f"- nearest other example, distance quantiles: {report['nearest_distance_quantiles']}"]
    if "overlap" in report:
        o = report["overlap"]
        lines += [f"- {o['split']} examples with a duplicate in {split}: exact {o['exact']:,}, near {o['near']:,} "
                  f"of {o['examples']:,}"]
    lines += ["", f"Took {report.get('seconds', 0)} s.", "", "## Groups", ""]
    if not near["groups"]:
        lines.append("none")
    for g in near["groups"][:MAX_GROUPS_SHOWN]:
        shown = ", ".join(map(str, g["indices"][:20])) + (" ..." if len(g["indices"]) > 20 else "")
        lines.append(f"- {split} {shown} (largest distance {g['max_distance']})")
    if len(near["groups"]) > MAX_GROUPS_SHOWN:
        lines.append(f"- ... {len(near['groups']) - MAX_GROUPS_SHOWN} more in report.json")
    if report.get("overlap", {}).get("pairs"):
        o = report["overlap"]
        lines += ["", f"## {o['split']} examples with a near duplicate in {split}", ""]
        lines += [f"- {o['split']} {p['example']} ~ {split} {p['train']} (distance {p['distance']}"
                  f"{', exact' if p['exact'] else ''})" for p in o["pairs"][:MAX_GROUPS_SHOWN]]
    return "\n".join(lines) + "\n"


def read_query(data, query_path: str | Path):
    """A user's file as a query for ``data``: a picture as levels ``[C, H, W]`` at the data's size and
    channels, or a text file's text."""
    from types import SimpleNamespace

    from ...data.text import read_text
    from ...evaluation.dedup import is_text

    if is_text(data):
        return read_text(query_path)
    if data.info.shape is None or len(data.info.shape) != 3:
        raise ConfigError(f"'{data.info.name}' is {data.info.kind} data; search takes image or text data sets")
    return read_source_image(SimpleNamespace(data_info=data.info), query_path, tuple(data.info.shape[1:]))[0]


def search(run_or_data: str | Path, query_path: str | Path, k: int = 5, *, split: str = "train",
           features: str | None = None, data_root: str | None = None, options: dict[str, Any] | None = None,
           picture: str | Path | None = None, data=None) -> list[dict[str, Any]]:
    """The ``k`` examples of ``split`` nearest the file ``query_path`` (a picture for image data, a text
    file for text), nearest first, by the embedding of ``genlab data dedup`` (the perceptual one, or the
    feature network of ``features``; MinHash for text). ``run_or_data`` is a run folder (its data) or a
    data set name. Each result is ``{"rank", "split", "index", "distance"}`` plus ``"label"`` (labelled
    images) or ``"text"`` (the line); :func:`example_file` gives an example as a file's bytes.
    Training embeddings are cached (:func:`genlab.evaluation.dedup.cache_dir`). With ``picture`` (image
    data; text has none), a PNG row of the query and then the neighbours is written there. ``data``: the
    data set :func:`indexed_data` gives for ``run_or_data``, when the caller holds it already (a server)."""
    from ...evaluation.dedup import is_text, search_examples

    check_count("k", k, 1, MAX_K)
    data = data if data is not None else indexed_data(run_or_data, data_root, options)
    query = read_query(data, query_path)
    results = search_examples(data, query, k, _embedding_net(data, features), split=split)
    if picture is not None and not is_text(data):
        _neighbour_row(data, query, results, picture)
    return results


def example_file(run_or_data: str | Path, split: str, index: int, data_root: str | None = None,
                 options: dict[str, Any] | None = None, data=None) -> tuple[bytes, str]:
    """``(bytes, media type)`` of one example, as its modality writes it: a PNG of an image, a text line
    as UTF-8 text, a WAV of a clip, a MIDI file of a piece, a GIF of a video clip."""
    from ...data.exclude import count_examples

    data = data if data is not None else indexed_data(run_or_data, data_root, options)
    total = count_examples(data, split)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
        raise ConfigError(f"index must be between 0 and {total - 1} for the {split} split, got {index!r}")
    return data.info.modality.example_file(data.info, data.split(split), index)


def _neighbour_row(data, query: torch.Tensor, results: list[dict[str, Any]], out: str | Path) -> Path:
    from ...data.modalities import save_image_grid

    if not hasattr(data.split("train"), "images"):
        raise ConfigError(f"'{data.info.name}' is {data.info.kind} data; a picture of the neighbours is for images")
    images = [query.to(torch.uint8)] + [data.split(r["split"]).images[r["index"]] for r in results]
    return save_image_grid(torch.stack(images), data.info.levels, out, nrow=len(images))
