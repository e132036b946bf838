"""Provenance of the files genlab generates: that they are synthetic, and what made them.

Every generated file carries a record (:func:`record`) in a JSON sidecar ``FILE.provenance.json``
and, where its format allows, inside it: a PNG ``tEXt`` chunk with the key ``genlab:provenance``,
a WAV ``LIST``/``INFO`` chunk (``ICMT`` holds the JSON, ``ISFT`` names genlab), a MIDI text meta
event at the start of track 0, a GIF comment extension. Other files (text, JPEG) have the sidecar
only. The format is found from the file's first bytes, not its suffix. :func:`read` finds the
record again; :func:`check_synthetic` is what the data loaders ask before training on files.

Embedding is byte-level (the pixels, samples and notes are not decoded or re-encoded), and reading
scans chunk headers only, so checking thousands of files stays cheap.
"""

from __future__ import annotations

import datetime
import json
import struct
import zlib
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from .errors import DataError
from .files import atomic_write_bytes, atomic_write_text
from .version import __version__

KEY = "genlab:provenance"  # the PNG text key; also marks the JSON in WAV, MIDI and GIF
SIDECAR_SUFFIX = ".provenance.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Found(NamedTuple):
    """A provenance record and where it was read: ``sidecar``, ``png``, ``wav``, ``midi`` or ``gif``."""

    record: dict[str, Any]
    source: str


def record(*, model: str, weights_sha256: str | None, run: str | None = None, weights: str | None = None,
           step: int | None = None, seed: int | None = None, sampling: dict[str, Any] | None = None,
           command: str | None = None, kind: str | None = None) -> dict[str, Any]:
    """The provenance record of files a model generated (JSON-ready; values that are not JSON become text)."""
    return {
        "synthetic": True,
        "generator": {"genlab": __version__, "run": run, "weights": weights, "model": model,
                      "weights_sha256": weights_sha256, "step": step},
        "command": command,
        "kind": kind,
        "seed": seed,
        "sampling": _jsonable(sampling or {}),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def sidecar(path: str | Path) -> Path:
    """``FILE.provenance.json`` beside ``path``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def is_sidecar(path: str | Path) -> bool:
    return Path(path).name.endswith(SIDECAR_SUFFIX)


# ---- writing -----------------------------------------------------------------------------------
def embed(path: str | Path, rec: dict[str, Any]) -> str | None:
    """Stamp ``path`` with ``rec``: inside the file where its format allows, and always in its sidecar.

    Returns the format the record went into (``png``, ``wav``, ``midi``, ``gif``), or None for
    sidecar only. A record already there is replaced; the file is rewritten atomically.
    """
    path = Path(path)
    text = json.dumps(rec, sort_keys=True)  # ASCII: fits PNG tEXt, RIFF INFO and MIDI text alike
    data = path.read_bytes()
    fmt = _format(data[:12])
    stamped = None
    if fmt == "png":
        stamped = _png_with(data, text)
    elif fmt == "wav":
        stamped = _wav_with(data, text)
    elif fmt == "gif":
        stamped = _gif_with(data, text)
    elif fmt == "midi":
        stamped = _midi_with(path, text)
    if stamped is not None:
        atomic_write_bytes(path, stamped)
    atomic_write_text(sidecar(path), json.dumps(rec, indent=2, sort_keys=True) + "\n")
    return fmt if stamped is not None else None


def stamp(paths: Iterable[str | Path], rec: dict[str, Any]) -> list[Path]:
    """:func:`embed` ``rec`` into every file of ``paths`` (sidecars skipped); returns the files stamped."""
    done = []
    for path in paths:
        if not is_sidecar(path):
            embed(path, rec)
            done.append(Path(path))
    return done


def render_stamped(info, samples, out: str | Path, rec: dict[str, Any]) -> tuple[Path, list[Path]]:
    """Render ``samples`` of data ``info`` to ``out`` with its modality and stamp every file it wrote (the list
    its ``write_files`` returns) with ``rec``; ``(out, the files stamped)``."""
    files = info.modality.write_files(info, samples, out)  # the files it wrote, as it says
    return Path(out), stamp(files, rec)


def _states(paths: Iterable[Path]) -> dict[Path, tuple[int, int, int]]:
    """``{file: (inode, mtime, size)}`` of the files among ``paths`` (sidecars and folders left out)."""
    states = {}
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        if p.is_file() and not is_sidecar(p):
            states[p] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return states


def tree_states(folder: str | Path) -> dict[Path, tuple[int, int, int]]:
    """``{file: (inode, mtime, size)}`` of every file under ``folder`` (sidecars left out), for
    :func:`stamp_changed` after work that writes files anywhere in it (a compare report)."""
    return _states(Path(folder).rglob("*") if Path(folder).is_dir() else ())


def stamp_changed(folder: str | Path, before: dict[Path, tuple[int, int, int]], rec: dict[str, Any]) -> list[Path]:
    """Stamp with ``rec`` every file under ``folder`` that is new or changed since ``before`` (:func:`tree_states`)."""
    return stamp([p for p, state in sorted(tree_states(folder).items()) if before.get(p) != state], rec)


def _format(head: bytes) -> str | None:
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"MThd":
        return "midi"
    if head[:4] == b"GIF8":
        return "gif"
    return None


def _is_ours(text: str) -> bool:
    try:
        rec = json.loads(text)
    except ValueError:
        return False
    return isinstance(rec, dict) and isinstance(rec.get("generator"), dict) and "genlab" in rec["generator"]


# PNG: a tEXt chunk right after IHDR
def _png_chunks(data: bytes):
    """``(start, end, type, payload)`` of each chunk of a PNG file's bytes."""
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        yield at, end, kind, data[at + 8:at + 8 + length]
        at = end
        if kind == b"IEND":
            return


def _png_with(data: bytes, text: str) -> bytes:
    payload = KEY.encode("latin-1") + b"\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    out, inserted = [data[:len(PNG_SIGNATURE)]], False
    for start, end, kind, body in _png_chunks(data):
        if kind in (b"tEXt", b"iTXt") and body.split(b"\0", 1)[0] == KEY.encode():
            continue  # an older stamp: replaced
        out.append(data[start:end])
        if kind == b"IHDR" and not inserted:
            out.append(chunk)
            inserted = True
    return b"".join(out) if inserted else None


def _png_text(f) -> str | None:
    f.seek(len(PNG_SIGNATURE))
    while True:
        head = f.read(8)
        if len(head) < 8:
            return None
        length, kind = struct.unpack(">I4s", head)
        if kind in (b"tEXt", b"iTXt"):
            body = f.read(length)
            key, _, rest = body.partition(b"\0")
            if key == KEY.encode():
                if kind == b"iTXt":  # compression flag, method, language \0, translated keyword \0, text
                    if rest[:1] == b"\1":
                        return zlib.decompress(rest[2:].split(b"\0", 2)[2]).decode("utf-8")
                    return rest[2:].split(b"\0", 2)[2].decode("utf-8")
                return rest.decode("latin-1")
            f.seek(4, 1)
        elif kind == b"IEND":
            return None
        else:
            f.seek(length + 4, 1)


# WAV: a LIST/INFO chunk at the end, the RIFF size updated
def _riff_chunks(data: bytes):
    at = 12
    while at + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[at:at + 8])
        end = min(len(data), at + 8 + size + (size & 1))
        yield at, end, kind, data[at + 8:at + 8 + size]
        at = end


def _info_fields(body: bytes) -> dict[bytes, bytes]:
    """The sub-chunks of a ``LIST`` chunk's body if it is ``INFO``; else {}."""
    if body[:4] != b"INFO":
        return {}
    fields, at = {}, 4
    while at + 8 <= len(body):
        kind, size = struct.unpack("<4sI", body[at:at + 8])
        fields[kind] = body[at + 8:at + 8 + size].rstrip(b"\0")
        at += 8 + size + (size & 1)
    return fields


def _wav_with(data: bytes, text: str) -> bytes:
    kept = [data[start:end] for start, end, kind, body in _riff_chunks(data)
            if not (kind == b"LIST" and _is_ours(_info_fields(body).get(b"ICMT", b"").decode("latin-1")))]
    info = b"INFO"
    for kind, value in ((b"ISFT", f"genlab {__version__}".encode()), (b"ICMT", text.encode("latin-1"))):
        value += b"\0"
        info += kind + struct.pack("<I", len(value)) + value + (b"\0" if len(value) & 1 else b"")
    chunks = b"".join(kept) + b"LIST" + struct.pack("<I", len(info)) + info
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _wav_text(f) -> str | None:
    f.seek(12)
    while True:
        head = f.read(8)
        if len(head) < 8:
            return None
        kind, size = struct.unpack("<4sI", head)
        if kind == b"LIST":
            body = f.read(size + (size & 1))
            comment = _info_fields(body).get(b"ICMT", b"").decode("latin-1")
            if _is_ours(comment):
                return comment
        else:
            f.seek(size + (size & 1), 1)


# MIDI: a text meta event at time 0 of track 0 (mido)
def _midi_with(path: Path, text: str) -> bytes | None:
    import io

    import mido

    try:
        mid = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError):
        return None
    if not mid.tracks:
        mid.tracks.append(mido.MidiTrack())
    track = mid.tracks[0]
    for i, msg in enumerate(track):  # an older stamp: its delta time goes to the next event
        if msg.is_meta and msg.type == "text" and _is_ours(msg.text):
            del track[i]
            if i < len(track):
                track[i] = track[i].copy(time=track[i].time + msg.time)
            break
    track.insert(0, mido.MetaMessage("text", text=text, time=0))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def _midi_text(path: Path) -> str | None:
    import mido

    try:
        mid = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError):
        return None
    for msg in mid.tracks[0] if mid.tracks else []:
        if msg.is_meta and msg.type == "text" and _is_ours(msg.text):
            return msg.text
    return None


# GIF: a comment extension before the first image
def _gif_blocks(data: bytes):
    """``(start, end, label, payload)`` of each extension before the first image, and where that image starts."""
    packed = data[10]
    at = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
    header_end = at
    blocks = []
    while at < len(data) and data[at] == 0x21:
        label, start, at = data[at + 1], at, at + 2
        payload = b""
        while at < len(data) and data[at]:
            payload += data[at + 1:at + 1 + data[at]]
            at += 1 + data[at]
        at += 1
        blocks.append((start, at, label, payload))
    return header_end, blocks


def _gif_with(data: bytes, text: str) -> bytes:
    header_end, blocks = _gif_blocks(data)
    raw = text.encode("latin-1")
    comment = b"\x21\xfe" + b"".join(bytes([len(raw[i:i + 255])]) + raw[i:i + 255]
                                     for i in range(0, len(raw), 255)) + b"\0"
    out = [b"GIF89a" + data[6:header_end], comment]
    last = header_end
    for start, end, label, payload in blocks:
        out.append(data[last:start])
        if not (label == 0xFE and _is_ours(payload.decode("latin-1"))):
            out.append(data[start:end])
        last = end
    out.append(data[last:])
    return b"".join(out)


def _gif_text(data: bytes) -> str | None:
    for _, _, label, payload in _gif_blocks(data)[1]:
        if label == 0xFE and _is_ours(payload.decode("latin-1")):
            return payload.decode("latin-1")
    return None


# ---- reading -----------------------------------------------------------------------------------
def read(path: str | Path) -> Found | None:
    """The provenance of ``path``: from its sidecar, else from inside the file; None if it has none.

    Raises:
        DataError: ``path`` does not exist or is not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"'{path}' is not a file" if path.exists() else f"'{path}' does not exist")
    side = sidecar(path)
    if side.is_file():
        try:
            rec = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            rec = None
        if isinstance(rec, dict):
            return Found(rec, "sidecar")
    text, fmt = _embedded_text(path)
    if text is None:
        return None
    try:
        return Found(json.loads(text), fmt)
    except ValueError:
        return None


def _embedded_text(path: Path) -> tuple[str | None, str | None]:
    try:
        with open(path, "rb") as f:
            fmt = _format(f.read(12))
            if fmt == "png":
                return _png_text(f), fmt
            if fmt == "wav":
                return _wav_text(f), fmt
            if fmt == "gif":
                f.seek(0)
                return _gif_text(f.read()), fmt
    except (OSError, struct.error, IndexError, zlib.error, UnicodeDecodeError):
        return None, None
    if fmt == "midi":
        return _midi_text(path), fmt
    return None, None


def is_synthetic(path: str | Path) -> bool:
    """Whether ``path`` is marked synthetic by genlab (sidecar or embedded record)."""
    found = read(path)
    return found is not None and found.record.get("synthetic") is True


def check_synthetic(examples: Iterable[str | Path | Iterable[str | Path]], folder: str | Path, allow: bool,
                    what: str = "files") -> int:
    """How many ``examples`` are marked synthetic (an example is a file, or several files, e.g. a pair, of
    which any one marked counts); a one-line :class:`DataError` if any are and not ``allow``."""
    marked = []
    for example in examples:
        files = [example] if isinstance(example, (str, Path)) else list(example)
        hit = next((Path(f) for f in files if is_synthetic(f)), None)
        if hit is not None:
            marked.append(hit)
    if marked and not allow:
        count = f"{len(marked)} {what} in {folder} are" if len(marked) > 1 else f"1 of the {what} in {folder} is"
        raise DataError(f"{count} marked synthetic by genlab (e.g. {marked[0].name}); pass --allow-synthetic "
                        "(or --data-arg allow_synthetic=true) to train on them")
    return len(marked)
