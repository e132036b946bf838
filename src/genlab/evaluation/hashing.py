"""Content hashes that name a feature extractor's weights in every score it gives."""

from __future__ import annotations

import hashlib

HASH_CHARS = 16  # hex characters of SHA-256 kept: enough to tell files apart, short enough to read


def short_hash(data: bytes) -> str:
    """The first :data:`HASH_CHARS` hex characters of the SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS]
