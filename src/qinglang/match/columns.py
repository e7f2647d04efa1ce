"""Append-mostly columns keyed by row: variable-length integer arrays (`Flat`) and strings (`Strings`), each one
flat buffer plus a start and a length per key.

Readers never lock: `put` writes past the end that readers know of, and swaps in larger arrays when needed.

`Strings` keeps text in one UTF-8 buffer rather than a list of str, so that reading it writes nothing. Every
read of a Python object writes its reference count into the page that holds it, so a scan worker forked from a
process holding a million debunk rows copied a page for nearly every row it read (copy-on-write faults, each
costing microseconds). A read builds a new str instead, and the buffer's pages stay shared with the parent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qinglang.arrays import concat_ranges


class Flat:
    """Variable-length integer arrays keyed by row: one flat buffer plus a start and a length per key."""

    def __init__(self, dtype: type) -> None:
        self.data: np.ndarray = np.zeros(1024, dtype=dtype)
        self.used = 0
        self.start = np.zeros(1024, dtype=np.int64)
        self.length = np.zeros(1024, dtype=np.int32)

    def reserve(self, extra: int) -> None:
        """Room for ``extra`` more values (grown by a quarter at least, so repeated small puts copy rarely)."""
        if self.used + extra > len(self.data):
            grown = np.zeros(max(self.used + extra, len(self.data) + len(self.data) // 4), dtype=self.data.dtype)
            grown[: self.used] = self.data[: self.used]
            self.data = grown

    def put(self, keys: Sequence[int], arrays: Sequence[np.ndarray]) -> None:
        lens = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
        self.put_joined(keys, np.concatenate(arrays) if len(arrays) else self.data[:0], lens)

    def put_joined(self, keys: Sequence[int], values: np.ndarray, lens: np.ndarray) -> None:
        """`put` of arrays given joined: ``values`` holds them one after another, ``lens`` their lengths."""
        total = int(lens.sum())
        self.reserve(total)
        if total:
            self.data[self.used : self.used + total] = values
        top = max(keys, default=-1)
        if top >= len(self.start):
            size = max(2 * len(self.start), top + 1)
            start, length = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int32)
            start[: len(self.start)], length[: len(self.length)] = self.start, self.length
            self.start, self.length = start, length
        karr = np.asarray(keys, dtype=np.int64)
        self.start[karr] = self.used + np.cumsum(lens) - lens
        self.length[karr] = lens
        self.used += total

    def gather(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The arrays of ``keys`` concatenated, and which of ``keys`` (by position) each value belongs to."""
        lens = self.length[keys].astype(np.int64)
        starts = self.start[keys]
        return self.data[concat_ranges(starts, lens)], np.repeat(np.arange(len(keys)), lens)

    def lengths(self, keys: np.ndarray) -> np.ndarray:
        return self.length[keys].astype(np.int64)

    def arrays(self, n: int) -> dict[str, np.ndarray]:
        return {"data": self.data[: self.used], "start": self.start[:n], "length": self.length[:n]}

    @classmethod
    def from_arrays(cls, data: np.ndarray, start: np.ndarray, length: np.ndarray) -> Flat:
        f = cls(data.dtype.type)
        f.data, f.used = data.copy(), len(data)
        f.start, f.length = start.astype(np.int64), length.astype(np.int32)
        return f


class Strings:
    """Strings by key (a key never put, or put as None, reads as None); ``len`` is one past the largest key."""

    def __init__(self) -> None:
        self._flat = Flat(np.uint8)
        self._present = np.zeros(1024, dtype=bool)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def put(self, keys: Sequence[int], values: Sequence[str | None]) -> None:
        if not len(keys):
            return
        encoded = [b"" if v is None else v.encode("utf-8") for v in values]
        self._flat.put_joined(keys, np.frombuffer(b"".join(encoded), dtype=np.uint8),
                              np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
        top = max(keys)
        present = self._present
        if top >= len(present):
            present = np.zeros(max(2 * len(present), top + 1), dtype=bool)
            present[: len(self._present)] = self._present
        present[np.asarray(keys, dtype=np.int64)] = [v is not None for v in values]
        self._present = present
        self.size = max(self.size, top + 1)

    def __getitem__(self, key: int) -> str | None:
        if not 0 <= key < self.size or not self._present[key]:
            return None
        flat = self._flat
        start = int(flat.start[key])
        return flat.data[start : start + int(flat.length[key])].tobytes().decode("utf-8")

    def many(self, keys: Sequence[int]) -> list[str | None]:
        """``[self[k] for k in keys]`` in one gather of the bytes (keys below ``len``)."""
        karr = np.asarray(keys, dtype=np.int64)
        flat = self._flat
        lens = flat.length[karr].astype(np.int64)
        blob = flat.data[concat_ranges(flat.start[karr], lens)].tobytes()
        out: list[str | None] = []
        lo = 0
        for end, present in zip(np.cumsum(lens).tolist(), self._present[karr].tolist(), strict=True):
            out.append(blob[lo:end].decode("utf-8") if present else None)
            lo = end
        return out
