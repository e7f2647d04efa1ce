"""Public report intake: validate, store durably, acknowledge with a receipt, then process in the background.

The report row, its images and its `process_report` job are committed together (group commit: one writer
thread batches concurrent submissions into one transaction) before the receipt is returned, so an
acknowledged report is never lost and always gets processed. Similarity dedup, matching and triage run in
the batched background job (`cases/pipeline.py`); only a cheap instant match may run inline when a slot is free.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import insert

from qinglang.auth import secrets as sec
from qinglang.auth.policy import Principal
from qinglang.cases import arrivals
from qinglang.cases.urls import canonical_url
from qinglang.errors import Invalid
from qinglang.jobs.worker import notify_all
from qinglang.observability import REPORTS_ACCEPTED
from qinglang.settings import Settings
from qinglang.store.db import Database
from qinglang.store.models import Job, Report, ReportImage
from qinglang.taxonomy import category
from qinglang.text.normalize import detect_lang

log = structlog.get_logger("qinglang.intake")

MAX_TEXT = 10_000
MAX_DESCRIPTION = 5_000
MAX_CONTACT = 200
MAX_IMAGES = 4


@dataclass
class ReportInput:
    category: str
    url: str | None = None
    text: str = ""
    description: str = ""
    contact: str | None = None
    platform: str | None = None
    images: list[bytes] = field(default_factory=list)
    claimed_views: int = 0


@dataclass
class SubmitResult:
    receipt: str
    report_id: int
    case_id: int | None
    debunk: dict[str, Any] | None


@dataclass
class _Prepared:
    """A validated report: its `reports` row as a dict (an ORM object per request costs more than the insert),
    its image rows and files; ``id`` is set once the row is committed."""

    row: dict[str, Any]
    images: list[ReportImage]
    files: list[tuple[Path, bytes]]
    id: int | None = None

    @property
    def receipt(self) -> str:
        return str(self.row["receipt"])

    @property
    def text(self) -> str:
        return str(self.row["text"] or "")


def _check_len(value: str, limit: int, name: str) -> str:
    if len(value) > limit:
        raise Invalid(f"{name} is longer than {limit} characters", field=name)
    return value


def prepare(data: ReportInput, settings: Settings, *, client_key: str, token: Principal | None = None) -> _Prepared:
    """Validate a report and build its rows (no database access). Raises `Invalid`/`TooLarge` naming the field."""
    category(data.category)
    text = _check_len((data.text or "").strip(), MAX_TEXT, "text")
    description = _check_len((data.description or "").strip(), MAX_DESCRIPTION, "description")
    contact = _check_len((data.contact or "").strip(), MAX_CONTACT, "contact") or None
    if not (0 <= data.claimed_views <= 10**11):
        raise Invalid("claimed_views must be between 0 and 10^11", field="claimed_views")
    if len(data.images) > MAX_IMAGES:
        raise Invalid(f"at most {MAX_IMAGES} images per report", field="images")
    canon = host = None
    if data.url and data.url.strip():
        canon, host = canonical_url(data.url)
    platform = _check_len((data.platform or "").strip().lower(), 200, "platform") or host
    if not (canon or text or data.images):
        raise Invalid("a report needs a url, the text, or an image", field="text")
    secret = settings.secret()
    images, files = _prepare_images(data.images, settings)
    if token is not None:
        reporter = f"token:{token.token_id}"
    elif contact:
        reporter = "contact:" + sec.keyed_hash(secret, contact.lower())
    else:
        reporter = "ip:" + sec.keyed_hash(secret, client_key)
    row = {
        "receipt": sec.new_receipt(), "category": data.category, "url": (data.url or "").strip() or None,
        "canonical_url": canon, "platform": platform, "text": text, "description": description,
        "lang": detect_lang(text or description), "contact_enc": sec.encrypt(secret, contact) if contact else None,
        "reporter_key": reporter[:64], "token_id": token.token_id if token else None,
        "trusted": bool(token and _is_trusted(token)), "claimed_views": int(data.claimed_views),
        "created_at": datetime.now(UTC),
    }
    return _Prepared(row, images, files)


def _is_trusted(token: Principal) -> bool:
    return token.via == "token" and token.trusted_flagger


def _prepare_images(blobs: list[bytes], settings: Settings) -> tuple[list[ReportImage], list[tuple[Path, bytes]]]:
    from qinglang.media.hashing import md5, pdq
    from qinglang.media.load import load_image

    rows: list[ReportImage] = []
    files: list[tuple[Path, bytes]] = []
    for i, blob in enumerate(blobs):
        try:
            img = load_image(blob)
        except Invalid as exc:
            raise type(exc)(exc.message, field=f"images.{i}") from None
        digest = md5(blob)
        h = pdq(img.image)
        path = settings.data_dir / "uploads" / digest[:2] / f"{digest}.{img.kind}"
        rows.append(ReportImage(md5=digest, pdq=h.hex, pdq_quality=h.quality, mime=f"image/{img.kind}",
                                width=img.width, height=img.height, path=str(path)))
        files.append((path, blob))
    return rows, files


def _write_file(path: Path, blob: bytes) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class _Pending:
    __slots__ = ("prepared", "done", "error", "future")

    def __init__(self, prepared: _Prepared, future: asyncio.Future[None] | None = None) -> None:
        self.prepared = prepared
        self.done = threading.Event() if future is None else None  # a thread waits on it; a coroutine on `future`
        self.error: BaseException | None = None
        self.future = future

    def finish(self) -> None:
        if self.done is not None:
            self.done.set()
        fut = self.future
        if fut is not None:
            fut.get_loop().call_soon_threadsafe(_resolve, fut, self.error)


def _resolve(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(None)


class IntakeWriter:
    """One thread that commits concurrent submissions in batches (group commit), then wakes each submitter."""

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._q: queue.Queue[_Pending] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="qinglang-intake-writer", daemon=True)
        self._thread.start()

    def submit(self, prepared: _Prepared, *, timeout: float = 30.0) -> _Prepared:
        arrivals.arrived(self.db)
        for path, blob in prepared.files:  # image files are durable before their rows exist
            _write_file(path, blob)
        p = _Pending(prepared)
        self._q.put(p)
        assert p.done is not None
        if not p.done.wait(timeout):
            raise TimeoutError("the database did not commit the report in time")
        if p.error is not None:
            raise p.error
        return p.prepared

    async def submit_async(self, prepared: _Prepared, *, timeout: float = 30.0) -> _Prepared:
        """The same durable commit, awaited on the event loop without tying up a thread."""
        arrivals.arrived(self.db)
        if prepared.files:
            await asyncio.to_thread(lambda: [_write_file(path, blob) for path, blob in prepared.files])
        p = _Pending(prepared, asyncio.get_running_loop().create_future())
        self._q.put(p)
        assert p.future is not None
        async with asyncio.timeout(timeout):  # no extra task per request, unlike wait_for
            await p.future
        return p.prepared

    def _loop(self) -> None:
        while True:
            batch = [self._q.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except Exception:
                for p in batch:  # isolate the bad one: commit the rest one by one
                    try:
                        self._commit([p])
                    except Exception as exc:
                        p.error = exc
            notify_all()
            for p in batch:
                p.finish()

    def _commit(self, batch: list[_Pending]) -> None:
        # Core multi-row INSERTs (one for the reports with RETURNING, one for the jobs): the ORM's per-object
        # bookkeeping would cost more than the database work at thousands of reports per second.
        rows = [p.prepared.row for p in batch]
        with self.db.write() as s:
            ids = s.execute(insert(Report).returning(Report.id, sort_by_parameter_order=True), rows).scalars().all()
            now = datetime.now(UTC)
            jobs = []
            for p, rid in zip(batch, ids, strict=True):
                p.prepared.id = rid
                for img in p.prepared.images:
                    img.report_id = rid
                    s.add(img)
                jobs.append({"kind": "process_report", "payload": {"report_id": rid}, "status": "queued",
                             "attempts": 0, "run_after": now, "created_at": now})
            s.execute(insert(Job), jobs)


_writers: dict[str, IntakeWriter] = {}
_writers_lock = threading.Lock()


def writer_for(db: Database) -> IntakeWriter:
    with _writers_lock:
        w = _writers.get(db.url)
        if w is None:
            w = _writers[db.url] = IntakeWriter(db)
        return w


_instant_slot = threading.Lock()
INSTANT_PER_SECOND = 4.0  # inline matches allowed per second: "light load"; under full load the pipeline answers


class _InstantBudget:
    """Token bucket for inline instant matches, so a burst of reports never spends the server's CPU on them."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


_instant_budget = _InstantBudget(INSTANT_PER_SECOND)


def _instant_possible(db: Database, text: str) -> bool:
    """Cheap checks before any thread hop: text to match, the index loaded, no match running, budget left."""
    from qinglang.match.store_source import holder

    return bool(text) and not _instant_slot.locked() and holder(db).matcher is not None and _instant_budget.take()


def submit_report(db: Database, settings: Settings, data: ReportInput, *, client_key: str,
                  token: Principal | None = None) -> SubmitResult:
    """Validate, commit durably, and return the receipt (plus a debunk when the instant match finds one)."""
    report = writer_for(db).submit(prepare(data, settings, client_key=client_key, token=token))
    REPORTS_ACCEPTED.inc()
    assert report.id is not None
    debunk = _instant_debunk(db, report.text) if _instant_possible(db, report.text) else None
    return SubmitResult(receipt=report.receipt, report_id=report.id, case_id=None, debunk=debunk)


async def submit_report_async(db: Database, settings: Settings, data: ReportInput, *, client_key: str,
                              token: Principal | None = None) -> SubmitResult:
    """`submit_report` for the event loop: validation inline (images decode in a thread), the commit awaited."""
    if data.images:
        prepared = await asyncio.to_thread(prepare, data, settings, client_key=client_key, token=token)
    else:
        prepared = prepare(data, settings, client_key=client_key, token=token)
    report = await writer_for(db).submit_async(prepared)
    REPORTS_ACCEPTED.inc()
    assert report.id is not None
    debunk = None
    if _instant_possible(db, report.text):
        try:  # the report is already durable: past the budget, acknowledge without the instant answer
            async with asyncio.timeout(settings.match_budget_ms / 1000):
                debunk = await asyncio.to_thread(_instant_debunk, db, report.text)
        except TimeoutError:
            debunk = None
    return SubmitResult(receipt=report.receipt, report_id=report.id, case_id=None, debunk=debunk)


def _instant_debunk(db: Database, text: str) -> dict[str, Any] | None:
    """Match inline only when the index is already loaded and no other request is matching (light load)."""
    from qinglang.match.store_source import hits_with_debunks, holder

    if not text or holder(db).matcher is None or not _instant_slot.acquire(blocking=False):
        return None
    try:
        hits = holder(db).get().match(text, top_k=1)
        found = [h for h in hits_with_debunks(db, hits) if h["band"] == "match"]
        if not found:
            return None
        # The same shape as the status page's debunk, plus how it matched.
        hit = found[0]
        return {**hit["debunk"], "match": {"score": hit["score"], "band": hit["band"],
                                           "explanation": hit["explanation"]}}
    except Exception as exc:  # the instant answer is a courtesy; the background job does the real work
        log.warning("instant_match_failed", error=repr(exc)[:200])
        return None
    finally:
        _instant_slot.release()
