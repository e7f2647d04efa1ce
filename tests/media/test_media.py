"""Image loading limits, PDQ/MD5 hashing and the hash bank with its CSV format."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from qinglang.errors import Invalid, TooLarge
from qinglang.media.bank import BankEntry, HashBank, read_csv, write_csv
from qinglang.media.hashing import hamming, md5, pdq
from qinglang.media.load import load_image, sniff


def picture(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(x) for x in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        x1, y1 = x0 + int(rng.integers(10, 120)), y0 + int(rng.integers(10, 120))
        d.rectangle((x0, y0, x1, y1), fill=tuple(int(x) for x in rng.integers(0, 255, 3)))
    return img


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepted_types_load_as_rgb(fmt: str) -> None:
    loaded = load_image(encode(picture(1), fmt))
    assert loaded.image.mode == "RGB" and (loaded.width, loaded.height) == (320, 240)
    assert loaded.kind == fmt.lower()


def test_other_types_are_refused_by_magic_bytes() -> None:
    gif = encode(picture(1), "GIF")
    assert sniff(gif) is None
    with pytest.raises(Invalid):
        load_image(gif)
    with pytest.raises(Invalid):
        load_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>")


def test_oversized_bytes_are_refused() -> None:
    with pytest.raises(TooLarge):
        load_image(encode(picture(1), "PNG"), max_bytes=1000)


def test_too_many_pixels_refused_before_decoding() -> None:
    data = encode(Image.new("L", (3000, 3000)), "PNG")  # compresses to a few kB
    with pytest.raises(TooLarge):
        load_image(data, max_pixels=5_000_000)


def test_decompression_bomb_is_an_error_not_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(Image.new("L", (2000, 2000)), "PNG")
    # Pillow warns above MAX_IMAGE_PIXELS and errors above twice that; both must become Invalid.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3_000_000)
    with pytest.raises(Invalid, match="bomb"):
        load_image(data)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(Invalid, match="bomb"):
        load_image(data)


def test_truncated_file_is_invalid() -> None:
    data = encode(picture(2), "JPEG", quality=90)
    with pytest.raises(Invalid):
        load_image(data[: len(data) // 2])
    png = encode(picture(2), "PNG")
    with pytest.raises(Invalid):
        load_image(png[:200])


def test_pdq_survives_light_edits_and_separates_images() -> None:
    base = picture(3)
    h = pdq(base)
    assert len(h.hex) == 64 and h.quality >= 50
    edited = load_image(encode(base.resize((300, 225)).filter(ImageFilter.GaussianBlur(1)), "JPEG", quality=70))
    assert hamming(h.hex, pdq(edited.image).hex) <= 31
    assert hamming(h.hex, pdq(picture(4)).hex) > 31


def test_md5_of_bytes() -> None:
    assert md5(b"abc") == "900150983cd24fb0d6963f7d28e17f72"


def test_bank_matches_near_pdq_and_exact_md5() -> None:
    base = picture(5)
    bank = HashBank()
    bank.add(BankEntry("pdq", pdq(base).hex, ("csam-like", "demo")))
    bank.add(BankEntry("pdq", pdq(picture(6)).hex, ("other",)))
    bank.add(BankEntry("md5", md5(b"abc").upper(), ("exact",)))
    brighter = base.point(lambda v: min(255, v + 12))
    near = bank.match_pdq(pdq(load_image(encode(brighter, "JPEG", quality=60)).image).hex)
    assert [m.entry.tags for m in near] == [("csam-like", "demo")]
    assert bank.match_md5(md5(b"abc"))[0].entry.tags == ("exact",)
    assert bank.match_md5(md5(b"abd")) == []


def test_bank_with_100k_hashes_answers_fast() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 256, size=(100_000, 32), dtype=np.uint8)
    bank = HashBank()
    bank.extend(BankEntry("pdq", bytes(row).hex()) for row in hashes)
    target = hashes[77_777].copy()
    target[:2] ^= 0xFF  # 16 bits flipped
    bank.match_pdq(bytes(target).hex())  # builds the matrix
    t = time.perf_counter()
    matches = bank.match_pdq(bytes(target).hex())
    elapsed = time.perf_counter() - t
    assert [m.distance for m in matches] == [16]
    assert elapsed < 0.2


def test_csv_round_trip_and_hma_columns() -> None:
    entries = [BankEntry("pdq", "f" * 64, ("a", "b")), BankEntry("md5", "0" * 32, ())]
    assert read_csv(write_csv(entries)) == entries
    hma = "hash,type,labels\n" + "A" * 64 + ",PDQ,x;y\n"
    assert read_csv(hma) == [BankEntry("pdq", "a" * 64, ("x", "y"))]


def test_csv_errors_name_the_line() -> None:
    with pytest.raises(Invalid, match="line 2"):
        read_csv("signal_value,signal_type\nabc,pdq\n")
    with pytest.raises(Invalid, match="line 3"):
        read_csv("signal_value,signal_type\n" + "0" * 32 + ",md5\n" + "0" * 32 + ",sha1\n")
    with pytest.raises(Invalid):
        read_csv("foo,bar\n1,2\n")
