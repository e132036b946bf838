"""Known data files, their checksums, and explicit downloads.

genlab never downloads implicitly: loading a data set only reads files under the data root.
``genlab data download NAME`` (or :func:`download`) fetches the files and checks each md5.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str | None


@dataclass(frozen=True)
class RemoteDataSet:
    folder: str
    urls: tuple[str, ...]  # base URLs (mirrors), tried in order
    files: tuple[RemoteFile, ...]


MNIST_FILES = (
    RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
)
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
        (RemoteFile("input.txt", "6fb458f1232090904fb40fe944165e91"),),
    ),
}

MIRROR_ENV = "GENLAB_MIRROR"  # a base URL tried before the official ones (e.g. a local copy)


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(root: Path, name: str, file: RemoteFile) -> Path:
    """The path of ``file`` of data set ``name`` under ``root``, checked by md5.

    Raises DataError naming the file, where it was expected and how to get it.
    """
    remote = REMOTE[name]
    path = root / remote.folder / file.name
    how = (f"run `genlab data download {name} --data-root {root}` on a machine with network, "
           f"or copy the original file there (from {remote.urls[0]}{file.name})")
    if not path.is_file():
        raise DataError(f"data file '{file.name}' for '{name}' not found at {path}; {how}")
    if file.md5 is not None:
        got = md5sum(path)
        if got != file.md5:
            raise DataError(f"data file {path} is corrupt or not the original release "
                            f"(md5 {got}, expected {file.md5}); delete it and {how}")
    return path


def download(name: str, root: Path, progress: bool = True) -> list[Path]:
    """Download data set ``name`` into ``root/<folder>``, verifying every file's md5."""
    if name not in REMOTE:
        raise DataError(f"no download is known for '{name}'; downloadable: {', '.join(sorted(REMOTE))}")
    remote = REMOTE[name]
    folder = root / remote.folder
    folder.mkdir(parents=True, exist_ok=True)
    bases = ([os.environ[MIRROR_ENV]] if os.environ.get(MIRROR_ENV) else []) + list(remote.urls)
    paths = []
    for file in remote.files:
        target = folder / file.name
        if target.is_file() and (file.md5 is None or md5sum(target) == file.md5):
            paths.append(target)
            continue
        errors = []
        for base in bases:
            url = base.rstrip("/") + "/" + file.name
            try:
                _fetch(url, target, file.md5, progress)
                paths.append(target)
                break
            except Exception as e:  # network errors come in many types; report them all
                errors.append(f"{url}: {e}")
        else:
            raise DataError(f"could not download {file.name} for '{name}': " + "; ".join(errors))
    return paths


def _fetch(url: str, target: Path, md5: str | None, progress: bool) -> None:
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
    if md5 is not None and md5sum(tmp_path) != md5:
        tmp_path.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for {url}")
    shutil.move(tmp_path, target)
