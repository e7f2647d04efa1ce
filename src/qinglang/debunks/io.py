"""Import and export of debunks as schema.org ClaimReview JSON and as CSV.

Imports are idempotent (a stable key per source item; existing keys are skipped) and all-or-nothing: one bad
item rejects the file with its position named, and nothing is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from qinglang.auth.policy import Principal
from qinglang.debunks import registry
from qinglang.debunks.claimreview import claim_review
from qinglang.errors import Invalid
from qinglang.store.models import Debunk
from qinglang.taxonomy import PUBLIC_DEBUNK_STATES, VERDICTS
from qinglang.text.normalize import detect_lang

CSV_FIELDS = ("key", "lang", "claim", "variants", "verdict", "summary", "explanation", "sources", "topics",
              "published")
_RATING_VERDICT = {1: "false", 2: "misleading", 3: "unproven", 4: "partly_false", 5: "true"}
_WORDS = {"false": "false", "fake": "false", "pants on fire": "false", "incorrect": "false", "谣言": "false",
          "不实": "false", "虚假": "false", "misleading": "misleading", "误导": "misleading", "mixture": "partly_false",
          "partly false": "partly_false", "half true": "partly_false", "部分不实": "partly_false",
          "unproven": "unproven", "unverified": "unproven", "尚无定论": "unproven", "true": "true", "correct": "true",
          "属实": "true"}


def _verdict_of(rating: dict[str, Any], where: str) -> str:
    name = str(rating.get("alternateName", "")).strip().lower()
    for v in VERDICTS:
        if name in (v.code, v.name_en.lower(), v.name_zh):
            return v.code
    if name in _WORDS:
        return _WORDS[name]
    try:
        value, best, worst = (float(rating[k]) for k in ("ratingValue", "bestRating", "worstRating"))
        scaled = 1 + round(4 * (value - worst) / (best - worst))
        return _RATING_VERDICT[int(scaled)]
    except (KeyError, ValueError, ZeroDivisionError, TypeError):
        raise Invalid(f"{where}: cannot tell the verdict from reviewRating {rating!r}", field=where) from None


def _key(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]


def parse_claimreview(payload: Any) -> list[tuple[str, registry.DebunkInput, datetime | None]]:
    """(key, input, published) for every ClaimReview in a JSON document (a list, one object, or {"claims": [...]})."""
    items = payload.get("claims", payload.get("@graph", [payload])) if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise Invalid("expected a ClaimReview object or a list of them", field="file")
    out = []
    for i, it in enumerate(items):
        where = f"item {i + 1}"
        if not isinstance(it, dict) or it.get("@type", "ClaimReview") != "ClaimReview":
            raise Invalid(f"{where}: not a ClaimReview object", field=where)
        claim = str(it.get("claimReviewed", "")).strip()
        if not claim:
            raise Invalid(f"{where}: claimReviewed is missing", field=where)
        rating = it.get("reviewRating") or {}
        verdict = _verdict_of(rating if isinstance(rating, dict) else {}, where)
        lang = str(it.get("inLanguage", "")).lower()[:2] or detect_lang(claim)
        lang = lang if lang in ("zh", "en") else detect_lang(claim)
        sources = [{"url": c.get("url", ""), "title": c.get("name", ""), "publisher": ""}
                   for c in it.get("citation", []) if isinstance(c, dict) and c.get("url")]
        if it.get("url"):
            author = it.get("author") or {}
            sources.insert(0, {"url": it["url"], "title": str(rating.get("alternateName", "")) or claim[:80],
                               "publisher": author.get("name", "") if isinstance(author, dict) else ""})
        item = it.get("itemReviewed") or {}
        variants = [a.get("text", "") for a in item.get("appearance", []) if isinstance(a, dict)] \
            if isinstance(item, dict) else []
        summary = str(it.get("reviewBody") or rating.get("alternateName") or verdict)
        published = None
        if it.get("datePublished"):
            try:
                published = datetime.fromisoformat(str(it["datePublished"])[:10]).replace(tzinfo=UTC)
            except ValueError:
                raise Invalid(f"{where}: datePublished is not a date", field=where) from None
        data = registry.DebunkInput(claim=claim, verdict=verdict, summary=summary[:1000],
                                    explanation=str(it.get("description") or summary), lang=lang,
                                    variants=[v for v in variants if v and v != claim][:50], sources=sources)
        try:
            data.validate()
        except Invalid as exc:
            raise Invalid(f"{where}: {exc.message}", field=where) from None
        out.append((_key("cr-", str(it.get("url", "")), claim), data, published))
    return out


def parse_csv(text: str) -> list[tuple[str, registry.DebunkInput, datetime | None]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"claim", "verdict", "summary"} - set(reader.fieldnames or ())
    if missing:
        raise Invalid(f"CSV lacks columns: {', '.join(sorted(missing))}", field="file")
    out = []
    for n, row in enumerate(reader, start=2):
        where = f"line {n}"
        try:
            sources = json.loads(row.get("sources") or "[]")
            data = registry.DebunkInput(
                claim=row["claim"], verdict=row["verdict"].strip(), summary=row["summary"],
                explanation=row.get("explanation") or "", lang=(row.get("lang") or detect_lang(row["claim"])).strip(),
                variants=[v for v in (row.get("variants") or "").split("|") if v.strip()], sources=sources,
                topics=[t for t in (row.get("topics") or "").split("|") if t.strip()])
            data.validate()
            published = datetime.fromisoformat(row["published"]).replace(tzinfo=UTC) if row.get("published") else None
        except Invalid as exc:
            raise Invalid(f"{where}: {exc.message}", field=where) from None
        except (ValueError, TypeError) as exc:
            raise Invalid(f"{where}: {exc}", field=where) from None
        out.append((row.get("key") or _key("csv-", row["claim"]), data, published))
    return out


def import_items(session: Session, actor: Principal | None, items: Iterable[tuple[str, registry.DebunkInput,
                 datetime | None]], *, org_id: int, status: str = "published", actor_label: str = "cli:import"
                 ) -> tuple[int, int]:
    """Create the debunks whose keys are new. Returns (created, skipped)."""
    have = set(session.execute(select(Debunk.key)).scalars())
    created = skipped = 0
    for key, data, published in items:
        if key in have:
            skipped += 1
            continue
        registry.create(session, actor, data, org_id=org_id, key=key, status=status, published_at=published,
                        actor_label=actor_label)
        have.add(key)
        created += 1
    return created, skipped


def _public(session: Session) -> list[Debunk]:
    return list(session.execute(select(Debunk).options(selectinload(Debunk.versions), selectinload(Debunk.org))
                                .where(Debunk.status.in_(PUBLIC_DEBUNK_STATES)).order_by(Debunk.id)).scalars())


def export_claimreview(session: Session, base_url: str) -> list[dict[str, Any]]:
    return [claim_review(d, base_url) for d in _public(session)]


def export_csv(session: Session) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    w.writeheader()
    for d in _public(session):
        v = registry.current(d)
        w.writerow({"key": d.key, "lang": d.lang, "claim": v.claim, "variants": "|".join(v.variants),
                    "verdict": v.verdict, "summary": v.summary, "explanation": v.explanation,
                    "sources": json.dumps(v.sources, ensure_ascii=False), "topics": "|".join(v.topics),
                    "published": d.published_at.date().isoformat() if d.published_at else ""})
    return buf.getvalue()
