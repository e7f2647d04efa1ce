"""Perceptual (PDQ) and exact (MD5) hashes of images, in the formats ThreatExchange and HMA use.

PDQ hashes are 64 hex characters (256 bits, most significant bit first) with a quality 0..100; hashes
with quality below about 50 are unreliable and callers should not match on them. Never loads images
itself: pass an image that came through `qinglang.media.load.load_image`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

from qinglang.errors import Invalid

PDQ_HEX_LEN = 64
PDQ_MATCH_THRESHOLD = 31  # Meta's recommended Hamming distance for PDQ matches
PDQ_MIN_QUALITY = 50


@dataclass(frozen=True)
class PdqHash:
    hex: str
    quality: int


def pdq(image: Image.Image) -> PdqHash:
    """The PDQ hash of an image."""
    arr = np.asarray(image.convert("RGB"))
    bits, quality = pdqhash.compute(arr)
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return PdqHash(hex=packed.tobytes().hex(), quality=int(quality))


def md5(data: bytes) -> str:
    """The MD5 of the original bytes, lower-case hex."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def pdq_bytes(hex_hash: str) -> bytes:
    """A PDQ hex hash as 32 bytes; raises `Invalid` when it is not 64 hex characters."""
    h = hex_hash.strip().lower()
    if len(h) != PDQ_HEX_LEN:
        raise Invalid(f"PDQ hash must be {PDQ_HEX_LEN} hex characters, got {len(h)}", field="hash")
    try:
        return bytes.fromhex(h)
    except ValueError as exc:
        raise Invalid(f"PDQ hash is not hex: {hex_hash!r}", field="hash") from exc


def hamming(a: str, b: str) -> int:
    """Hamming distance between two PDQ hex hashes."""
    return int.from_bytes(pdq_bytes(a), "big").__xor__(int.from_bytes(pdq_bytes(b), "big")).bit_count()
