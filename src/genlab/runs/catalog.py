"""The registry of runs and generated samples: a SQLite index over the logs in the run folders.

Run folders are the source of truth. Every file a command generates gets a line in its run's
(or saved model's) append-only log ``samples.jsonl``: an id, the file's path and SHA-256, the
model's weights hash, the command, seed and sampling arguments, the time, the user's tags and
the batch's quality scores. Later changes (tags, scores) are appended as event lines, so the log
is never rewritten. :class:`Registry` indexes those logs in one SQLite file (default
``runs/registry.sqlite3``, or ``$GENLAB_REGISTRY``) so that samples can be listed and filtered
fast; :meth:`Registry.rebuild` recreates the index from the logs at any time, and reports the
samples whose files have gone or changed instead of dropping them.

Several processes may write at once (a server and a command): the database is in WAL mode and
every write is one ``BEGIN IMMEDIATE`` transaction (one writer at a time, the others wait); a
log line batch is one ``O_APPEND`` write under an exclusive ``flock``.

Users see this as ``genlab registry ...`` and ``genlab samples ...``; :mod:`genlab.models.registry` is
the unrelated registry of model classes.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import ConfigError, GenlabError, StorageError
from ..files import CONFIG_FILE, storage_errors

LOG_FILE = "samples.jsonl"
ENV = "GENLAB_REGISTRY"
DEFAULT_PATH = Path("runs") / "registry.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000
SKIPPED_FOLDERS = {".git", "__pycache__", "checkpoint", "checkpoint.old", ".checkpoint.tmp", "best.old"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    path TEXT PRIMARY KEY, model TEXT, data TEXT, weights_sha256 TEXT, step INTEGER, created TEXT, metrics TEXT);
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY, run TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT, weights_sha256 TEXT, model TEXT,
    command TEXT, kind TEXT, seed INTEGER, sampling TEXT, source TEXT, time TEXT, scores TEXT, feature_net TEXT,
    score_info TEXT);
CREATE TABLE IF NOT EXISTS tags (sample TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (sample, tag));
CREATE INDEX IF NOT EXISTS samples_run ON samples (run);
CREATE INDEX IF NOT EXISTS tags_tag ON tags (tag);
"""
SAMPLE_COLUMNS = ("id", "run", "path", "sha256", "weights_sha256", "model", "command", "kind", "seed", "sampling",
                  "source", "time", "scores", "feature_net", "score_info")
JSON_COLUMNS = ("sampling", "scores", "score_info")


# ---- small helpers --------------------------------------------------------------------------------
def now() -> str:
    """The time in UTC, ISO 8601 to the microsecond (samples are listed in this order)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def new_id() -> str:
    """A new sample id: 16 random hex digits."""
    return secrets.token_hex(8)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_path() -> Path:
    """``$GENLAB_REGISTRY``, else ``runs/registry.sqlite3``."""
    return Path(os.environ.get(ENV) or DEFAULT_PATH)


def check_tags(tags: Iterable[str]) -> list[str]:
    """``tags`` without repeats, in order; a one-line error for an empty tag or one with a comma."""
    out: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if not tag or "," in tag or len(tag) > 200:
            shown = repr(tag[:40]) + ("..." if len(tag) > 40 else "")
            raise ConfigError(f"a tag must be 1 to 200 characters without commas, got {shown}")
        if tag not in out:
            out.append(tag)
    return out


def check_scores(scores: dict[str, Any] | None) -> dict[str, float]:
    """The numeric scores of ``scores`` (booleans, text and lists are left out)."""
    return {str(k): float(v) for k, v in (scores or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def run_home(run: str | os.PathLike, rec: dict[str, Any] | list[dict[str, Any]] | None = None) -> Path:
    """The folder whose log records what ``run`` generated: the training run named by the provenance
    record ``rec`` (or the first of a list), else the run holding the saved-model folder ``run``
    (``RUN/best``, which training replaces), else ``run`` itself (a bare saved model), resolved."""
    if isinstance(rec, list):
        rec = rec[0] if rec else None
    named = ((rec or {}).get("generator") or {}).get("run")
    folder = Path(named or run).resolve()
    if not named and (folder.parent / "run.json").is_file():
        return folder.parent
    return folder


# ---- the log in a run folder ----------------------------------------------------------------------
def sample_entries(home: str | os.PathLike, paths: Iterable[str | os.PathLike],
                   rec: dict[str, Any] | list[dict[str, Any]], tags: Iterable[str] = (),
                   scores: dict[str, Any] | None = None, score_info: dict[str, Any] | None = None
                   ) -> list[dict[str, Any]]:
    """The log lines (``event: sample``) of the generated files ``paths``, made with provenance record
    ``rec`` (or a list of records, one per path)."""
    home = Path(home).resolve()
    paths = list(paths)
    recs = rec if isinstance(rec, list) else [rec] * len(paths)
    if len(recs) != len(paths):
        raise ValueError(f"{len(recs)} provenance records for {len(paths)} files")
    tags = check_tags(tags)
    entries = []
    for path, rec in zip(paths, recs):
        gen = rec.get("generator") or {}
        full = Path(path).resolve()
        try:
            shown = str(full.relative_to(home))
        except ValueError:
            shown = str(full)
        entries.append({
            "event": "sample", "id": new_id(), "path": shown, "sha256": sha256_file(full),
            "weights_sha256": gen.get("weights_sha256"), "model": gen.get("model"), "command": rec.get("command"),
            "kind": rec.get("kind"), "seed": rec.get("seed"), "sampling": rec.get("sampling") or {},
            "source": rec.get("source"), "time": now(), "tags": tags,
            "scores": check_scores(scores) if scores else None,
            "score_info": score_info if scores else None,
        })
    return entries


def append_log(home: str | os.PathLike, lines: list[dict[str, Any]]) -> Path:
    """Append ``lines`` to ``home/samples.jsonl`` in one ``O_APPEND`` write under an exclusive lock,
    so that lines of writers at the same time never interleave. Raises :class:`StorageError` when
    the folder is not writable."""
    path = Path(home) / LOG_FILE
    data = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode("utf-8")
    with storage_errors(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)  # releases the lock
    return path


def read_log(home: str | os.PathLike) -> tuple[list[dict[str, Any]], list[str]]:
    """Replay ``home/samples.jsonl``: the samples with their tags and scores as of the last event,
    in order, and one line per damaged or unknown line (``FILE line N: why``), which is skipped."""
    path = Path(home) / LOG_FILE
    samples: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    if not path.is_file():
        return [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            why = _apply(samples, line, Path(home))
            if why:
                problems.append(f"{path} line {number}: {why}")
    return list(samples.values()), problems


def _valid_tags(tags: Any) -> list[str]:
    """The tags of a log line that :func:`check_tags` would take (an edited log may hold anything)."""
    if not isinstance(tags, list):
        return []
    return [t.strip() for t in tags if isinstance(t, str) and t.strip() and "," not in t and len(t.strip()) <= 200]


def _outside_without_provenance(home: Path, path: Path) -> bool:
    """True for an absolute path outside the run folder ``home`` that carries no genlab provenance: a
    log line (edited, or copied from elsewhere) must not make genlab index and hash any file of the
    machine. Files a server wrote to its --store are outside, and carry their provenance."""
    from .. import provenance

    resolved = path.resolve()
    if resolved.is_relative_to(home.resolve()):
        return False
    if not resolved.is_file():
        return False  # a file that has gone is reported missing: nothing of it is read
    try:
        return provenance.read(resolved) is None
    except (GenlabError, OSError, ValueError):
        return True


def _apply(samples: dict[str, dict[str, Any]], line: str, home: Path) -> str | None:
    """Apply one log line of the run folder ``home`` to ``samples``; the reason it cannot be applied, or None."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return "not JSON (a torn or edited line); skipped"
    if not isinstance(entry, dict):
        return "not a JSON object; skipped"
    event = entry.get("event")
    if event == "sample":
        if not isinstance(entry.get("id"), str) or not isinstance(entry.get("path"), str):
            return "a sample without an id or path; skipped"
        path = Path(entry["path"])
        if not path.is_absolute() and ".." in path.parts:
            return "a sample whose path leaves its run folder; skipped"
        if path.is_absolute() and _outside_without_provenance(home, path):
            return "a sample outside its run folder that is not a file genlab generated; skipped"
        entry = dict(entry)
        entry["tags"] = _valid_tags(entry.get("tags"))
        if not isinstance(entry.get("scores"), dict):
            entry["scores"] = None
        samples[entry["id"]] = entry
        return None
    if event == "tag":
        if not isinstance(entry.get("id"), str):
            return "tags without a sample id; skipped"
        target = samples.get(entry["id"])
        if target is None:
            return f"tags for an unknown sample {entry.get('id')!r}; skipped"
        target["tags"] = list(dict.fromkeys(target["tags"] + _valid_tags(entry.get("tags"))))
        return None
    if event == "scores":
        ids = entry.get("ids")
        if not isinstance(ids, list) or not isinstance(entry.get("scores"), dict):
            return "scores without ids or values; skipped"
        ids = [i for i in ids if isinstance(i, str)]
        unknown = [i for i in ids if i not in samples]
        for i in ids:
            if i in samples:
                samples[i]["scores"] = check_scores(entry["scores"])
                samples[i]["score_info"] = entry.get("score_info")
        return f"scores for unknown sample(s) {unknown[0]!r}; skipped for them" if unknown else None
    return f"unknown event {event!r}; skipped"


def run_summary(home: Path) -> dict[str, Any]:
    """What the runs table holds for ``home``: from its ``run.json``, last metrics and saved model (the best,
    else the last checkpoint, else ``home`` itself), where readable (genlab.runs' own readers)."""
    from .pretrained import read_config
    from .run import RUN_FILE, find_saved_model, read_metrics, read_run_file

    row: dict[str, Any] = {"path": str(home), "model": None, "data": None, "weights_sha256": None, "step": None,
                           "created": None, "metrics": None}
    with contextlib.suppress(GenlabError, OSError, AttributeError):  # a damaged file: index what could be read
        if (home / RUN_FILE).is_file():
            run = read_run_file(home)
            row.update(model=run.get("model"), data=(run.get("data") or {}).get("name"), step=run.get("total_steps"),
                       created=datetime.datetime.fromtimestamp((home / RUN_FILE).stat().st_mtime,
                                                               datetime.timezone.utc).isoformat(timespec="seconds"))
            row["metrics"] = (read_metrics(home) or [None])[-1]
    with contextlib.suppress(GenlabError, OSError, AttributeError):
        folder = find_saved_model(home, "best") or find_saved_model(home, "checkpoint") or (
            home if (home / CONFIG_FILE).is_file() else None)
        if folder is not None:
            meta = read_config(folder)
            row["model"] = row["model"] or meta.get("model")
            row["weights_sha256"] = meta.get("weights_sha256")
            if row["step"] is None:
                row["step"] = meta.get("step")
    return row


# ---- the index ------------------------------------------------------------------------------------
def _use_wal(db: sqlite3.Connection) -> None:
    """Put the database in WAL mode (kept in the file). The switch needs the database to itself, so
    when writers make a new registry at once it is retried until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked (could not switch it to WAL mode)")
        time.sleep(0.02)


class Registry:
    """The SQLite index of run folders and the samples they generated (see the module docstring).

    Each call opens its own connection, so one object may serve several threads.
    """

    def __init__(self, path: str | os.PathLike, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StorageError(f"there is no registry at {self.path}; run `genlab registry rebuild` to make one from "
                               f"the run folders, or name another with --registry or ${ENV}")
        self._check_is_ours()  # before anything is written, WAL mode included
        with self._connect(write=True) as db:
            db.execute("BEGIN IMMEDIATE")
            found = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
            version = None
            if found:
                got = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(got[0]) if got else None
            if version is not None and version > SCHEMA_VERSION:
                db.execute("ROLLBACK")
                raise StorageError(f"the registry {self.path} was made by a newer genlab (schema {version}); upgrade "
                                   f"genlab, or use another file (--registry or ${ENV})")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    def _check_is_ours(self) -> None:
        """Refuse a file that holds another program's data: a genlab registry has the schema marker
        (``meta.schema_version``); only a new or empty database may be made one."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        other = (f"'{self.path}' is damaged or not a genlab registry (no genlab schema marker: another program's "
                 "database, or not a database), and is left as it is; if it was a registry, move it away and run "
                 f"`genlab registry rebuild`, else name another file with --registry or ${ENV}")
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                marked = "meta" in tables and db.execute(
                    "SELECT 1 FROM meta WHERE key='schema_version'").fetchone() is not None
            finally:
                db.close()
        except sqlite3.DatabaseError:
            raise StorageError(other) from None
        if tables and not marked:
            raise StorageError(other)

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        hint = f"move it away and run `genlab registry rebuild`, or use another file (--registry or ${ENV})"
        try:
            if write:
                with storage_errors(self.path):
                    self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.is_file():
                raise StorageError(f"there is no registry at {self.path}; run `genlab registry rebuild` to make one")
            db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except (sqlite3.Error, OSError) as e:
            raise StorageError(f"cannot open the registry {self.path} ({e}); {hint}") from e
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if write:
                _use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        except sqlite3.DatabaseError as e:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            if "locked" in str(e) or "busy" in str(e):
                raise StorageError(f"the registry {self.path} is in use by another process (it waited "
                                   f"{BUSY_TIMEOUT_MS // 1000} s); try again") from e
            readonly = "readonly" in str(e) or "unable to open" in str(e)
            why = "it is not writable" if readonly else "it is damaged or not a genlab registry"
            raise StorageError(f"cannot use the registry {self.path}: {why} ({e}); {hint}") from e
        finally:
            db.close()

    # ---- writing ----
    def record_files(self, run: str | os.PathLike, paths: Iterable[str | os.PathLike],
                     rec: dict[str, Any] | list[dict[str, Any]],
                     tags: Iterable[str] = (), scores: dict[str, Any] | None = None,
                     score_info: dict[str, Any] | None = None) -> list[str]:
        """Record the generated files ``paths`` of ``run`` (made with provenance record ``rec``): a line
        each in the run's log, then in the index. Returns their ids."""
        home = run_home(run, rec)
        entries = sample_entries(home, paths, rec, tags, scores, score_info)
        append_log(home, entries)
        self.index(home, entries)
        return [e["id"] for e in entries]

    def index(self, home: str | os.PathLike, entries: list[dict[str, Any]]) -> None:
        """Put the log lines ``entries`` of the run folder ``home`` into the index (one transaction)."""
        home = Path(home).resolve()
        summary = run_summary(home)  # files read before the write lock is taken
        with self._connect(write=True) as db:
            db.execute("BEGIN IMMEDIATE")
            self._insert_run(db, summary)
            for entry in entries:
                self._insert_sample(db, home, entry)
            db.execute("COMMIT")

    def add_tags(self, sample_id: str, tags: Iterable[str]) -> dict[str, Any]:
        """Tag a sample (a line in its run's log, then the index); returns the sample."""
        tags = check_tags(tags)
        if not tags:
            raise ConfigError("give at least one tag")
        sample = self.get_sample(sample_id, check_file=False)
        append_log(sample["run"], [{"event": "tag", "id": sample["id"], "tags": tags, "time": now()}])
        with self._connect(write=True) as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?)", [(sample["id"], t) for t in tags])
            db.execute("COMMIT")
        return self.get_sample(sample["id"], check_file=False)

    def record_scores(self, ids: Iterable[str], scores: dict[str, Any], feature_net: str | None = None,
                      **info: Any) -> None:
        """Record quality ``scores`` computed for the batch of samples ``ids`` with the feature network of
        hash ``feature_net`` (None: scored without one); ``info`` (e.g. ``num_samples``) is kept with them."""
        ids = list(ids)
        values = check_scores(scores)
        score_info = {"feature_net": feature_net, **info, "time": now()}
        samples = [self.get_sample(i, check_file=False) for i in ids]
        by_run: dict[str, list[str]] = {}
        for s in samples:
            by_run.setdefault(s["run"], []).append(s["id"])
        for home, run_ids in by_run.items():
            append_log(home, [{"event": "scores", "ids": run_ids, "scores": values, "score_info": score_info}])
        with self._connect(write=True) as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE samples SET scores=?, feature_net=?, score_info=? WHERE id=?",
                           [(json.dumps(values), feature_net, json.dumps(score_info), s["id"]) for s in samples])
            db.execute("COMMIT")

    @staticmethod
    def _insert_run(db: sqlite3.Connection, row: dict[str, Any]) -> None:
        db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (row["path"], row["model"], row["data"], row["weights_sha256"], row["step"], row["created"],
                    None if row["metrics"] is None else json.dumps(row["metrics"])))

    @staticmethod
    def _insert_sample(db: sqlite3.Connection, home: Path, entry: dict[str, Any]) -> None:
        path = Path(entry["path"])
        full = str(path if path.is_absolute() else home / path)
        info = entry.get("score_info") or {}
        seed = entry.get("seed")
        values = {"id": entry["id"], "run": str(home), "path": full, "sha256": entry.get("sha256"),
                  "weights_sha256": entry.get("weights_sha256"), "model": entry.get("model"),
                  "command": entry.get("command"), "kind": entry.get("kind"),
                  "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                  "sampling": json.dumps(entry.get("sampling") or {}), "source": entry.get("source"),
                  "time": entry.get("time"),
                  "scores": None if entry.get("scores") is None else json.dumps(check_scores(entry["scores"])),
                  "feature_net": info.get("feature_net") if isinstance(info, dict) else None,
                  "score_info": None if not info else json.dumps(info)}
        db.execute(f"INSERT OR REPLACE INTO samples VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))})",
                   [values[c] for c in SAMPLE_COLUMNS])
        db.execute("DELETE FROM tags WHERE sample=?", (entry["id"],))
        db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?)", [(entry["id"], t) for t in entry.get("tags") or []])

    # ---- reading ----
    def list_samples(self, run: str | os.PathLike | None = None, tag: str | None = None,
                     min_scores: dict[str, float] | None = None, max_scores: dict[str, float] | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]:
        """The samples, oldest first: of the run folder ``run``, with the tag ``tag``, with every score of
        ``min_scores`` at least (and of ``max_scores`` at most) the value given (a sample without that
        score is left out). Each has ``exists``: whether its file is still there."""
        where, params = [], []
        if run is not None:
            where.append("s.run = ?")
            params.append(str(Path(run).resolve()))
        if tag is not None:
            where.append("s.id IN (SELECT sample FROM tags WHERE tag = ?)")
            params.append(tag)
        sql = "SELECT * FROM samples s" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY s.time, s.rowid"
        if limit is not None and not min_scores and not max_scores:  # no filter after the query: let SQLite stop
            sql += " LIMIT ?"
            params.append(limit)
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = [self._sample(db, row) for row in db.execute(sql, params)]
        out = []
        for s in rows:
            scores = s["scores"] or {}
            if any(k not in scores or scores[k] < v for k, v in (min_scores or {}).items()):
                continue
            if any(k not in scores or scores[k] > v for k, v in (max_scores or {}).items()):
                continue
            s["exists"] = Path(s["path"]).is_file()
            out.append(s)
            if limit is not None and len(out) >= limit:
                break
        return out

    def get_sample(self, sample_id: str, check_file: bool = True) -> dict[str, Any]:
        """One sample by its id (or a prefix of it naming one sample), with ``exists`` and ``sha256_ok``
        (the file's SHA-256 is still the recorded one; None when the file has gone)."""
        sample_id = str(sample_id).strip().lower()
        if not sample_id or any(c not in "0123456789abcdef" for c in sample_id):
            raise ConfigError(f"'{sample_id}' is not a sample id (hex digits, as `genlab samples list` shows)")
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM samples WHERE id LIKE ? LIMIT 2", (sample_id + "%",)).fetchall()
            if not rows:
                raise ConfigError(f"no sample '{sample_id}' in the registry {self.path}; see `genlab samples list`, "
                                  "or run `genlab registry rebuild` if it was made elsewhere")
            if len(rows) > 1:
                raise ConfigError(f"'{sample_id}' names several samples; give more of the id")
            sample = self._sample(db, rows[0])
        path = Path(sample["path"])
        sample["exists"] = path.is_file()
        if check_file:
            sample["sha256_ok"] = sha256_file(path) == sample["sha256"] if sample["exists"] else None
        return sample

    @staticmethod
    def _sample(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        sample = {k: row[k] for k in SAMPLE_COLUMNS}
        for k in JSON_COLUMNS:
            sample[k] = None if sample[k] is None else json.loads(sample[k])
        sample["tags"] = [t for (t,) in db.execute("SELECT tag FROM tags WHERE sample=? ORDER BY rowid", (row["id"],))]
        return sample

    def list_runs(self) -> list[dict[str, Any]]:
        """The indexed run folders with their sample counts."""
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT r.*, (SELECT COUNT(*) FROM samples s WHERE s.run = r.path) AS samples "
                              "FROM runs r ORDER BY r.path").fetchall()
        out = []
        for row in rows:
            run = dict(row)
            run["metrics"] = None if run["metrics"] is None else json.loads(run["metrics"])
            out.append(run)
        return out

    # ---- rebuilding ----
    def rebuild(self, roots: Iterable[str | os.PathLike]) -> dict[str, Any]:
        """Recreate the index from the run folders under ``roots`` (their ``samples.jsonl`` and
        ``run.json``). Returns a report: ``runs``, ``samples``, ``missing`` and ``changed`` (samples whose
        file has gone or whose SHA-256 differs: ``{id, path}``, kept in the index), ``bad_lines``."""
        roots = [Path(r) for r in roots]
        for root in roots:
            if not root.is_dir():
                raise ConfigError(f"'{root}' is not a folder; give folders that hold run folders")
        homes = sorted({h for root in roots for h in find_run_folders(root)})
        report: dict[str, Any] = {"roots": [str(r) for r in roots], "runs": len(homes), "samples": 0,
                                  "missing": [], "changed": [], "bad_lines": []}
        loaded = []
        for home in homes:
            samples, problems = read_log(home)
            report["bad_lines"] += problems
            loaded.append((home, run_summary(home)))  # read before the write lock is taken
            for s in samples:
                path = Path(s["path"]) if Path(s["path"]).is_absolute() else home / s["path"]
                if not path.is_file():
                    report["missing"].append({"id": s["id"], "path": str(path)})
                elif sha256_file(path) != s.get("sha256"):
                    report["changed"].append({"id": s["id"], "path": str(path)})
            report["samples"] += len(samples)
        with self._connect(write=True) as db:
            db.execute("BEGIN IMMEDIATE")  # from here no other writer records: the logs are read again inside
            for table in ("tags", "samples", "runs"):
                db.execute(f"DELETE FROM {table}")
            for home, summary in loaded:
                self._insert_run(db, summary)
                for s in read_log(home)[0]:  # with what was recorded while the files above were hashed
                    self._insert_sample(db, home, s)
            db.execute("COMMIT")
        return report


def find_run_folders(root: str | os.PathLike) -> list[Path]:
    """The folders under ``root`` (itself included) that hold a ``run.json`` or a samples log, resolved."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith(".")]
        if "run.json" in files or LOG_FILE in files:
            found.append(Path(folder).resolve())
    return found


def open_registry(path: str | os.PathLike | None = None, create: bool = True) -> Registry:
    """The registry at ``path``, else ``$GENLAB_REGISTRY``, else ``runs/registry.sqlite3``; made if
    absent, unless ``create`` is False (then a missing file is a one-line :class:`StorageError`)."""
    return Registry(path if path is not None else default_path(), create=create)
