"""Known data files, their checksums, and explicit downloads.

genlab never downloads implicitly: loading a data set only reads files under the data root.
``genlab data download NAME`` (or :func:`download`) fetches the files and checks each one.

A file is identified by the SHA-256 of its *content*: for a ``.gz`` file, of the decompressed
bytes. The same data recompressed by another tool (a different gzip header) or stored already
decompressed (the name without ``.gz``) is accepted; the md5 of the archive as served is only the
download check of files whose content hash is not recorded.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class RemoteFile:
    """A file of a data set: its name as served, the md5 of those bytes, and its content hash."""

    name: str
    md5: str | None
    sha256: str | None = None  # SHA-256 of the content (decompressed for .gz); None: not recorded


@dataclass(frozen=True)
class RemoteDataSet:
    folder: str
    urls: tuple[str, ...]  # base URLs (mirrors), tried in order
    files: tuple[RemoteFile, ...]


MNIST_FILES = (
    RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
               "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
               "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
)
# No content hash is recorded for Fashion-MNIST (no verified copy was at hand to compute one):
# loading accepts its files, .gz or decompressed, with no check; a download checks the archive md5.
FASHION_FILES = (
    RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
)

REMOTE: dict[str, RemoteDataSet] = {
    "mnist": RemoteDataSet(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        MNIST_FILES,
    ),
    "fashion-mnist": RemoteDataSet(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        FASHION_FILES,
    ),
    "tinyshakespeare": RemoteDataSet(
        "tinyshakespeare",
        ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",),
        (RemoteFile("input.txt", "6fb458f1232090904fb40fe944165e91",
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),),
    ),
}

MIRROR_ENV = "GENLAB_MIRROR"  # a base URL tried before the official ones (e.g. a local copy)


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes (whatever its name says)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def content_sha256(path: Path) -> str:
    """SHA-256 of the file's content: of the decompressed bytes for a gzip file, else of the file.

    Raises DataError when a gzip file cannot be decompressed (truncated or damaged).
    """
    digest = hashlib.sha256()
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"data file {path} is corrupt: it cannot be decompressed ({e})") from e
    return digest.hexdigest()


def local_candidates(folder: Path, file: RemoteFile) -> list[Path]:
    """Where ``file`` may be stored: under its own name, and decompressed without ``.gz``."""
    paths = [folder / file.name]
    if file.name.endswith(".gz"):
        paths.append(folder / file.name[: -len(".gz")])
    return paths


def verified_path(root: Path, name: str, file: RemoteFile) -> Path:
    """The path of ``file`` of data set ``name`` under ``root``, checked by its content hash.

    The ``.gz`` file or its decompressed form (the name without ``.gz``) is accepted, the first
    found; either is checked by the SHA-256 of the decompressed content, so a recompressed
    archive passes. A file with no recorded content hash is accepted unchecked.
    Raises DataError naming the file, where it was expected and how to get it.
    """
    remote = REMOTE[name]
    candidates = local_candidates(root / remote.folder, file)
    how = (f"run `genlab data download {name} --data-root {root}` on a machine with network, "
           f"or copy the original file there (from {remote.urls[0]}{file.name})")
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DataError(f"data file '{file.name}' for '{name}' not found at {candidates[0]}; {how}")
    if file.sha256 is not None:
        try:
            got = content_sha256(path)
        except DataError as e:
            raise DataError(f"{e}; delete it and {how}") from e
        if got != file.sha256:
            raise DataError(f"data file {path} is corrupt or not the original release "
                            f"(content SHA-256 {got}, expected {file.sha256}); delete it and {how}")
    return path


def _matches(path: Path, file: RemoteFile) -> bool:
    """Whether a local file holds ``file``: by content hash, else by the archive's md5."""
    try:
        if file.sha256 is not None:
            return content_sha256(path) == file.sha256
    except DataError:
        return False
    return file.md5 is None or md5sum(path) == file.md5


def download(name: str, root: Path, progress: bool = True) -> list[Path]:
    """Download data set ``name`` into ``root/<folder>``, verifying every file.

    A file already there (``.gz`` or decompressed) with the right content is kept.
    """
    if name not in REMOTE:
        raise DataError(f"no download is known for '{name}'; downloadable: {', '.join(sorted(REMOTE))}")
    remote = REMOTE[name]
    folder = root / remote.folder
    folder.mkdir(parents=True, exist_ok=True)
    bases = ([os.environ[MIRROR_ENV]] if os.environ.get(MIRROR_ENV) else []) + list(remote.urls)
    paths = []
    for file in remote.files:
        target = folder / file.name
        present = [p for p in local_candidates(folder, file) if p.is_file() and _matches(p, file)]
        if present:
            paths.append(present[0])
            continue
        errors = []
        for base in bases:
            url = base.rstrip("/") + "/" + file.name
            try:
                _fetch(url, target, file, progress)
                paths.append(target)
                break
            except Exception as e:  # network errors come in many types; report them all
                errors.append(f"{url}: {e}")
        else:
            raise DataError(f"could not download {file.name} for '{name}': " + "; ".join(errors))
    return paths


def _fetch(url: str, target: Path, file: RemoteFile, progress: bool) -> None:
    from tqdm import tqdm

    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                    while chunk := response.read(1 << 16):
                        tmp.write(chunk)
                        bar.update(len(chunk))
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
    if not _matches(tmp_path, file):
        tmp_path.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for {url}")
    shutil.move(tmp_path, target)
