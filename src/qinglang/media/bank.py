"""In-memory hash banks: PDQ near-match by Hamming distance and MD5 exact match, with HMA-style CSV.

The PDQ side keeps every hash as four uint64 words and answers a query with one vectorised XOR and
popcount over the whole bank (about a millisecond for 100k hashes). The CSV columns follow
ThreatExchange/HMA exports: ``signal_type``, ``signal_value`` and ``tags`` (space- or comma-separated).
Never holds images and never persists itself: the store owns persistence, this is the index.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from qinglang.errors import Invalid
from qinglang.media.hashing import PDQ_MATCH_THRESHOLD, pdq_bytes

SIGNAL_TYPES = ("pdq", "md5")
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
# Accept the column names used by ThreatExchange exports, HMA and plain "hash,type,labels" files.
_VALUE_COLS = ("signal_value", "hash", "value", "signal")
_TYPE_COLS = ("signal_type", "type", "hash_type")
_TAG_COLS = ("tags", "labels", "label", "tag")


@dataclass(frozen=True)
class BankEntry:
    signal_type: str
    value: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BankMatch:
    entry: BankEntry
    distance: int  # Hamming distance for PDQ, 0 for MD5


def _popcount_table() -> np.ndarray:
    return np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


_POP8 = _popcount_table()


@dataclass
class HashBank:
    """A bank of PDQ and MD5 signals. Add entries, then `match_pdq` / `match_md5`."""

    entries_pdq: list[BankEntry] = field(default_factory=list)
    entries_md5: dict[str, list[BankEntry]] = field(default_factory=dict)
    _pdq: np.ndarray = field(default_factory=lambda: np.zeros((0, 32), dtype=np.uint8))
    _pending: list[bytes] = field(default_factory=list)

    def add(self, entry: BankEntry) -> None:
        """Add one signal; raises `Invalid` for an unknown type or malformed value."""
        e = normalise_entry(entry)
        if e.signal_type == "pdq":
            self.entries_pdq.append(e)
            self._pending.append(pdq_bytes(e.value))
        else:
            self.entries_md5.setdefault(e.value, []).append(e)

    def extend(self, entries: Iterable[BankEntry]) -> None:
        for e in entries:
            self.add(e)

    def __len__(self) -> int:
        return len(self.entries_pdq) + sum(len(v) for v in self.entries_md5.values())

    def _matrix(self) -> np.ndarray:
        if self._pending:
            new = np.frombuffer(b"".join(self._pending), dtype=np.uint8).reshape(-1, 32)
            self._pdq = np.vstack([self._pdq, new])
            self._pending = []
        return self._pdq

    def match_pdq(self, hex_hash: str, *, threshold: int = PDQ_MATCH_THRESHOLD) -> list[BankMatch]:
        """Entries within ``threshold`` Hamming distance, nearest first."""
        m = self._matrix()
        if not len(m):
            return []
        q = np.frombuffer(pdq_bytes(hex_hash), dtype=np.uint8)
        dist = _POP8[np.bitwise_xor(m, q)].sum(axis=1, dtype=np.int32)
        idx = np.nonzero(dist <= threshold)[0]
        idx = idx[np.argsort(dist[idx], kind="stable")]
        return [BankMatch(self.entries_pdq[i], int(dist[i])) for i in idx]

    def match_md5(self, md5_hex: str) -> list[BankMatch]:
        return [BankMatch(e, 0) for e in self.entries_md5.get(md5_hex.strip().lower(), [])]

    def entries(self) -> list[BankEntry]:
        return [*self.entries_pdq, *(e for v in self.entries_md5.values() for e in v)]


def normalise_entry(entry: BankEntry) -> BankEntry:
    t = entry.signal_type.strip().lower()
    v = entry.value.strip().lower()
    if t == "pdq":
        pdq_bytes(v)
    elif t == "md5":
        if not _MD5_RE.match(v):
            raise Invalid(f"MD5 must be 32 hex characters: {entry.value!r}", field="signal_value")
    else:
        raise Invalid(f"unknown signal type {entry.signal_type!r}; expected pdq or md5", field="signal_type")
    tags = tuple(sorted({x.strip() for x in entry.tags if x.strip()}))
    return BankEntry(t, v, tags)


def _col(header: list[str], names: tuple[str, ...]) -> int | None:
    low = [h.strip().lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    return None


def read_csv(text: str) -> list[BankEntry]:
    """Entries from an HMA/ThreatExchange-style CSV with a header row; raises `Invalid` on bad rows."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = rows[0]
    vi, ti, gi = _col(header, _VALUE_COLS), _col(header, _TYPE_COLS), _col(header, _TAG_COLS)
    if vi is None or ti is None:
        raise Invalid("CSV needs a signal_value (or hash) column and a signal_type column", field="csv")
    out: list[BankEntry] = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            tags = tuple(re.split(r"[\s,;]+", row[gi])) if gi is not None and gi < len(row) else ()
            out.append(normalise_entry(BankEntry(row[ti], row[vi], tags)))
        except IndexError:
            raise Invalid(f"CSV line {n}: missing columns", field="csv") from None
        except Invalid as exc:
            raise Invalid(f"CSV line {n}: {exc.message}", field="csv") from None
    return out


def write_csv(entries: Iterable[BankEntry]) -> str:
    """Entries as CSV with the columns ``signal_value,signal_type,tags`` (tags space-separated)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["signal_value", "signal_type", "tags"])
    for e in entries:
        w.writerow([e.value, e.signal_type, " ".join(e.tags)])
    return buf.getvalue()
