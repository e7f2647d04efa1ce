"""Reading labelled text files (TSV with a header ``label<TAB>text``) into (label, text) pairs.

Never reads anything the caller did not name: paths come from the caller, and the shipped seed files
are located with `seed_path`.
"""

from __future__ import annotations

import csv
import sys
from importlib.resources import files
from pathlib import Path

from qinglang.errors import Invalid, NotFound
from qinglang.taxonomy import CATEGORY_CODES

NONE_LABELS = {"none", "clean", "ok", "-", ""}


def read_tsv(path: str | Path) -> list[tuple[str, str]]:
    """(label, text) pairs from a ``label<TAB>text`` file; raises `NotFound` / `Invalid` with the line."""
    p = Path(path)
    if not p.is_file():
        raise NotFound(f"no such file: {p}", field="data")
    csv.field_size_limit(sys.maxsize)
    out: list[tuple[str, str]] = []
    with p.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["label", "text"]:
            raise Invalid(f"{p}: the first line must be the header 'label<TAB>text'", field="data")
        for n, row in enumerate(reader, start=2):
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) < 2:
                raise Invalid(f"{p}:{n}: expected 'label<TAB>text'", field="data")
            out.append((row[0].strip(), "\t".join(row[1:]).strip()))
    if not out:
        raise Invalid(f"{p}: no labelled rows", field="data")
    return out


def parse_categories(label: str) -> tuple[str, ...]:
    """'fraud' / 'fraud,rumor' / 'none' → category codes; raises `Invalid` for unknown codes."""
    if label.strip().lower() in NONE_LABELS:
        return ()
    codes = tuple(sorted({c.strip().lower() for c in label.replace(";", ",").replace("|", ",").split(",")
                          if c.strip()}))
    for c in codes:
        if c not in CATEGORY_CODES:
            raise Invalid(f"unknown category {c!r}; expected one of {', '.join(CATEGORY_CODES)} or none",
                          field="label")
    return codes


def parse_binary(label: str) -> str:
    """'1'/'0' (also spam/ham, true/false, yes/no) → '1' or '0'."""
    v = label.strip().lower()
    if v in {"1", "spam", "true", "yes", "pos", "positive", "fraud", "fake", "offensive"}:
        return "1"
    if v in {"0", "ham", "false", "no", "neg", "negative", "normal", "real", "clean"}:
        return "0"
    raise Invalid(f"binary label must be 1 or 0, got {label!r}", field="label")


def seed_path(name: str) -> Path:
    """Path of a shipped seed file in ``qinglang/data/triage``."""
    return Path(str(files("qinglang") / "data" / "triage" / name))
