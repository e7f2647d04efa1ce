"""Bulk scanning of posts against the debunk pool: streaming, resumable, cached, on every core.

``scan_batch`` is the one plain function every runner calls (the CLI's local process pool here; a Ray or
Dask runner later). ``scan_file`` streams a JSONL file of ``{"id", "text"}`` posts (optionally ``"date"``, when
the post was written) to a JSONL file of ``{"id", "hits"}`` lines in input order, skips ids already written
(resume after interruption), and answers reposts from a cache keyed by exact and by normalised text (and the
date). Never reads the store and never holds the whole input in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import numpy as np

from qinglang.errors import Invalid, NotFound
from qinglang.lifecycle import forks_with_one_math_thread, one_math_thread, one_math_thread_env
from qinglang.match.dates import parse_date
from qinglang.match.matcher import Matcher
from qinglang.text.normalize import normalize

Hits = list[dict[str, Any]]


def scan_batch(
    matcher: Matcher, texts: Sequence[str], *, top_k: int = 3, vectors: np.ndarray | None = None,
    dates: Sequence[str | None] | None = None,
) -> list[Hits]:
    """Match a batch of texts (``vectors`` from ``matcher.embed`` if already embedded; ``dates``: ISO dates the
    texts were posted, None where unknown); JSON-ready hits."""
    return [
        [{"id": h.id, "score": h.score, "band": h.band, "explanation": h.explanation, "matched_text": h.matched_text}
         for h in hs]
        for hs in matcher.match_many(list(texts), top_k=top_k, vectors=vectors, dates=dates)
    ]


class ScanCache:
    """Bounded LRU of results keyed by exact text and by normalised text (reposts cost nothing)."""

    def __init__(self, max_items: int = 200_000) -> None:
        self._d: OrderedDict[str, Hits] = OrderedDict()
        self.max_items = max_items
        self.hits = 0

    def get(self, text: str, norm: str | None = None) -> Hits | None:
        """Cached hits for ``text`` (``norm``: its ``normalize``d form, if the caller has it already)."""
        key = text
        v = self._d.get(key)
        if v is None:  # normalise only when the exact text missed
            key = "\x00" + (normalize(text) if norm is None else norm)
            v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
            self.hits += 1
        return v

    def put(self, text: str, hits: Hits, norm: str | None = None) -> None:
        for key in (text, "\x00" + (normalize(text) if norm is None else norm)):
            self._d[key] = hits
            self._d.move_to_end(key)
        while len(self._d) > self.max_items:
            self._d.popitem(last=False)


def done_ids(out: Path) -> set[str]:
    """Ids already in an output file; a torn last line (interrupted write) is cut off."""
    if not out.is_file():
        return set()
    data = out.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with out.open("r+b") as f:
            f.truncate(end)
    ids: set[str] = set()
    for line in data[:end].splitlines():
        if line.strip():
            ids.add(str(json.loads(line)["id"]))
    return ids


def read_posts(path: Path, skip: set[str] | None = None) -> Iterator[tuple[str, str, str | None]]:
    """(id, text, ISO date or None) per JSONL line; a malformed line raises Invalid naming the line number."""
    if not path.is_file():
        raise NotFound(f"file not found: {path}")
    skip = skip or set()
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                pid, text = str(rec["id"]), rec["text"]
                if not isinstance(text, str):
                    raise TypeError("text is not a string")
                day = parse_date(rec.get("date"))
            except Invalid as e:
                raise Invalid(f"{path}:{n}: {e.message}", field="date") from e
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise Invalid(f"{path}:{n}: expected a JSON object with id and text ({e})") from e
            if pid not in skip:
                yield pid, text, day.isoformat() if day else None


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


# ---- worker processes ---------------------------------------------------------------------
_worker_matcher: Matcher | None = None
_worker_top_k = 3


def _init_worker(matcher_dir: str, threads: int, top_k: int) -> None:
    global _worker_matcher, _worker_top_k
    one_math_thread()
    os.environ["QINGLANG_EMBED_THREADS"] = str(threads)
    _worker_matcher = Matcher.load(Path(matcher_dir))
    _worker_top_k = top_k


def _set_worker(matcher: Matcher | None, top_k: int) -> None:
    global _worker_matcher, _worker_top_k
    _worker_matcher, _worker_top_k = matcher, top_k


def _work(texts: list[str], dates: list[str | None]) -> list[Hits]:
    assert _worker_matcher is not None
    return scan_batch(_worker_matcher, texts, top_k=_worker_top_k, dates=dates)


def _embed_texts(texts: list[str]) -> np.ndarray:
    from qinglang.match.embedder import get_embedder
    from qinglang.match.matcher import embedding_text

    return get_embedder().embed([embedding_text(t) for t in texts])


def _init_embed_helper() -> None:
    one_math_thread()
    os.environ["QINGLANG_EMBED_THREADS"] = "1"


class EmbedAhead:
    """Embeds the next chunks in a helper process while this process matches the current one.

    The model then runs back to back on one core and matching (Python) on the other. A process, not a
    thread: measured here, a thread of numpy-heavy matching beside onnxruntime in the same interpreter
    slowed the model by 30-75 %, another process by about 7 %. Until the helper has loaded the model
    (about a second), chunks are embedded on a thread of this process instead.
    """

    def __init__(self, matcher: Matcher) -> None:
        from qinglang.match.embedder import OnnxUSEEmbedder

        self._matcher = matcher
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="scan-embed")
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[np.ndarray] | None = None
        if isinstance(matcher.embedder, OnnxUSEEmbedder):  # a helper can only load the real model
            self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_init_embed_helper)
            self._ready = self._pool.submit(_embed_texts, ["warm up"])

    def submit(self, texts: list[str]) -> Callable[[], np.ndarray]:
        if self._pool is not None and self._ready is not None and self._ready.done():
            if self._ready.exception() is None:
                return self._pool.submit(_embed_texts, texts).result
        return self._thread.submit(self._matcher.embed, texts).result

    def close(self) -> None:
        self._thread.shutdown(cancel_futures=True)
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class _Piece:
    """A share of a batch's texts, matched by whichever process takes it first."""

    def __init__(self, texts: list[str], days: list[str | None]) -> None:
        self.texts, self.days = texts, days
        self.hits: list[Hits] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def finish(self, hits: list[Hits] | None, error: BaseException | None = None) -> None:
        self.hits, self.error = hits, error
        self.done.set()

    def result(self) -> list[Hits]:
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.hits is not None
        return self.hits


class _Share:
    """Pieces of work shared between this process and worker processes. Up to ``slots`` pieces are out with the
    workers at once; as one comes back (on the pool's result thread), the next waiting piece goes out, and this
    process takes the pieces that find no free slot (`take`). This process is one of the matching processes: a
    scan on two cores forks one worker, not two (one fork and one exit of the loaded pool fewer), and the process
    that holds everything warm does its share of the work instead of waiting."""

    def __init__(self, pool: ProcessPoolExecutor, slots: int) -> None:
        self._pool, self._free = pool, slots
        self._waiting: deque[_Piece] = deque()
        self._lock = threading.RLock()  # a future already done runs its callback inside `submit`, under the lock

    def put(self, piece: _Piece) -> None:
        with self._lock:
            self._waiting.append(piece)
            self._feed()

    def take(self) -> _Piece | None:
        with self._lock:
            return self._waiting.popleft() if self._waiting else None

    def _feed(self) -> None:
        while self._free and self._waiting:
            piece = self._waiting.popleft()
            self._free -= 1
            try:
                fut = self._pool.submit(_work, piece.texts, piece.days)
            except Exception as exc:  # noqa: BLE001 - a broken pool: the piece carries the error to the reader
                self._free += 1
                piece.finish(None, exc)
                continue
            fut.add_done_callback(lambda f, piece=piece: self._returned(piece, f))

    def _returned(self, piece: _Piece, fut: Future[list[Hits]]) -> None:
        exc = CancelledError() if fut.cancelled() else fut.exception()
        piece.finish(None if exc else fut.result(), exc)
        with self._lock:
            self._free += 1
            self._feed()


@dataclass
class ScanStats:
    posts: int = 0
    skipped: int = 0
    cached: int = 0
    matched: int = 0


#: Batches read and shared out ahead of the one being written: enough that a worker always finds a piece waiting.
READ_AHEAD = 2
#: The last batch is cut into this many times more pieces than the others.
LAST_PIECES = 4


def scan_file(
    matcher: Matcher,
    posts: Path,
    out: Path,
    *,
    workers: int = 1,
    top_k: int = 3,
    batch: int = 128,
    on_progress: Callable[[int], None] | None = None,
) -> ScanStats:
    """Scan ``posts`` into ``out`` (appending after what is already there). ``workers``: the processes that match,
    this one included (1: this one, with the model running ahead in a helper process)."""
    if workers < 1:
        raise Invalid("workers must be at least 1", field="workers")
    stats = ScanStats()
    skip = done_ids(out)
    stats.skipped = len(skip)
    cache = ScanCache()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    share: _Share | None = None
    pool: ProcessPoolExecutor | None = None
    embedder: EmbedAhead | None = None
    held = ExitStack()
    try:
        if workers == 1:
            embedder = EmbedAhead(matcher)
        else:
            held.enter_context(forks_with_one_math_thread())  # this process matches beside the workers: one thread
            if "fork" in get_all_start_methods():
                # Forked workers inherit the loaded matcher and model: no save, no reload, no second model load
                # (spawned workers spend seconds starting, which dominated scans of a few thousand posts).
                matcher.warm()  # what the workers would each load on their first piece, loaded once here
                _set_worker(matcher, top_k)
                pool = ProcessPoolExecutor(workers - 1, mp_context=get_context("fork"),
                                           initializer=one_math_thread_env)
            else:
                tmp = tempfile.TemporaryDirectory(prefix="qinglang-scan-")
                matcher.save(Path(tmp.name))
                pool = ProcessPoolExecutor(workers - 1, mp_context=get_context("spawn"), initializer=_init_worker,
                                           initargs=(tmp.name, 1, top_k))
            # Two pieces out per worker: the next one is already there when it returns one (handing it over waits
            # for this process's interpreter lock); one out per worker was slower in most alternated rounds of a
            # scratch comparison.
            share = _Share(pool, 2 * (workers - 1))
        with out.open("a", encoding="utf-8") as fo:
            # An item is (id, text, date, cache key of the text, cache key of its normalised form); a dated post's
            # keys carry its date (its hits depend on it).
            Item = tuple[str, str, str | None, str, str]  # noqa: N806
            inflight: deque[tuple[list[Item], list[Item], Callable[[], list[Hits]]]] = deque()
            pending: set[str] = set()

            def flush_one() -> None:
                items, todo, result = inflight.popleft()
                results = result()
                for (_, _, _, key, norm), hits in zip(todo, results, strict=True):
                    cache.put(key, hits, norm)
                    pending.discard(norm)
                for pid, text, day, key, norm in items:
                    hits = cache.get(key, norm)
                    if hits is None:  # evicted between put and get: recompute in-process
                        hits = scan_batch(matcher, [text], top_k=top_k, dates=[day])[0]
                    fo.write(json.dumps({"id": pid, "hits": hits}, ensure_ascii=False) + "\n")
                    stats.posts += 1
                    stats.matched += bool(hits and hits[0]["band"] == "match")
                fo.flush()
                if on_progress:
                    on_progress(len(items))

            def step() -> None:
                """Match a waiting piece here, or, with none waiting, wait for the oldest batch and write it."""
                assert share is not None
                piece = share.take()
                if piece is None:
                    flush_one()
                    return
                try:
                    piece.finish(scan_batch(matcher, piece.texts, top_k=top_k, dates=piece.days))
                except BaseException as exc:
                    piece.finish(None, exc)
                    raise

            def submit(items: list[Item], *, last: bool = False) -> None:
                todo: list[Item] = []
                for item in items:
                    _, _, _, key, norm = item
                    if norm in pending or cache.get(key, norm) is not None:
                        stats.cached += 1  # a repost: answered when its first copy is
                        continue
                    pending.add(norm)
                    todo.append(item)
                texts = [t for _, t, _, _, _ in todo]
                days = [d for _, _, d, _, _ in todo]
                if not texts:
                    inflight.append((items, todo, list))
                elif share is not None:
                    # The last batch in smaller pieces: the processes then finish within a few posts of each other.
                    size = -(-len(texts) // (workers * (LAST_PIECES if last else 1)))
                    pieces = [_Piece(texts[i : i + size], days[i : i + size]) for i in range(0, len(texts), size)]
                    for piece in pieces:
                        share.put(piece)
                    inflight.append((items, todo, lambda: [h for p in pieces for h in p.result()]))
                else:
                    assert embedder is not None
                    vecs = embedder.submit(texts)
                    inflight.append((items, todo, lambda: scan_batch(matcher, texts, top_k=top_k, vectors=vecs(),
                                                                     dates=days)))

            # With workers, this process matches pieces while batches are in flight; alone, it writes each batch
            # as the next is embedded ahead.
            ahead, advance = (READ_AHEAD, step) if share is not None else (1, flush_one)
            chunk: list[Item] = []
            for pid, text, day in read_posts(posts, skip):
                suffix = "" if day is None else "\x01" + day
                chunk.append((pid, text, day, text + suffix, normalize(text) + suffix))
                if len(chunk) > batch:  # one post held back: the batch left at the end is known to be the last
                    submit(chunk[:batch])
                    chunk = chunk[batch:]
                    while len(inflight) > ahead:
                        advance()
            if chunk:
                submit(chunk, last=True)
            while inflight:
                advance()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _set_worker(None, 3)
        held.close()
        if embedder is not None:
            embedder.close()
        if tmp is not None:
            tmp.cleanup()
    return stats

