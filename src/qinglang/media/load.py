"""Safe image loading: type by magic bytes, byte and pixel limits, decompression bombs as errors.

Every image that enters the system from a reporter goes through `load_image`. It must never return a
partly decoded image, never trust a file name or a declared content type, and never let Pillow's
decompression-bomb check degrade to a warning.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from qinglang.errors import Invalid, TooLarge

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000

_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@dataclass(frozen=True)
class LoadedImage:
    image: Image.Image  # fully decoded, RGB
    data: bytes  # the original bytes (hash these for MD5)
    kind: str  # "png" | "jpeg" | "webp"
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The image type from magic bytes: 'png', 'jpeg', 'webp', or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def load_image(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode ``data`` into an RGB image, enforcing type and size limits.

    Raises `TooLarge` above ``max_bytes`` or ``max_pixels`` (checked from the header before decoding),
    and `Invalid` for other types, bombs and malformed or truncated files.
    """
    if len(data) > max_bytes:
        raise TooLarge(f"image is {len(data)} bytes; the limit is {max_bytes}", field="image")
    kind = sniff(data)
    if kind is None:
        raise Invalid("not a PNG, JPEG or WebP image", field="image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[_FORMATS[kind]])
            w, h = img.size
            if w * h > max_pixels:
                raise TooLarge(f"image is {w}x{h} pixels; the limit is {max_pixels}", field="image")
            # Pillow's own bomb check uses its global limit; ours is stricter and applies first.
            img.load()
            rgb = img.convert("RGB")
    except (TooLarge, Invalid):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Invalid("image rejected as a decompression bomb", field="image") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Invalid(f"malformed {kind} image: {exc}", field="image") from exc
    return LoadedImage(image=rgb, data=data, kind=kind, width=w, height=h)
