"""Shared threat intelligence in the store: blocklists (phones, URLs, domains, accounts), hash banks of known
harmful images, and indicator networks (one phone number across many reports is one fraud network).

Management functions validate with the pure domain code (`text.indicators`, `media.bank`) and audit every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.accounts import org_by_key
from qinglang.errors import Conflict, Invalid, NotFound
from qinglang.media import bank as mbank
from qinglang.store.models import BlocklistEntry, Case, CaseIndicator, HashBank, HashBankEntry, Indicator
from qinglang.text import indicators as ind

BLOCKLIST_KINDS = ("phone", "url", "domain", "wechat", "qq", "alipay", "telegram", "email", "bank_card", "crypto")
POLICIES = ("auto_flag", "review")


def add_block(session: Session, *, actor: str, kind: str, value: str, source: str, reason: str = "",
              expires_at: datetime | None = None, created_by: int | None = None) -> BlocklistEntry:
    if kind not in BLOCKLIST_KINDS:
        raise Invalid(f"kind must be one of {', '.join(BLOCKLIST_KINDS)}", field="kind")
    if not value.strip() or len(value) > 500:
        raise Invalid("value must be 1-500 characters", field="value")
    if not source.strip():
        raise Invalid("say where this entry comes from", field="source")
    try:
        canon = ind.canonical_value(kind, value.strip())
    except Invalid as exc:
        raise Invalid(exc.message, field="value") from None
    if session.execute(select(BlocklistEntry.id).where(BlocklistEntry.kind == kind,
                                                       BlocklistEntry.value == canon)).first():
        raise Conflict(f"{kind} {canon} is already on the blocklist", field="value")
    row = BlocklistEntry(kind=kind, value=canon, source=source.strip()[:200], reason=reason.strip(),
                         expires_at=expires_at, created_by=created_by)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="blocklist.add", object_type="blocklist", object_id=row.id,
                 summary={"kind": kind, "value": canon, "source": source, "expires_at": expires_at})
    return row


def remove_block(session: Session, *, actor: str, entry_id: int) -> None:
    row = session.get(BlocklistEntry, entry_id)
    if row is None:
        raise NotFound(f"blocklist entry {entry_id} not found")
    audit.record(session, actor=actor, action="blocklist.remove", object_type="blocklist", object_id=entry_id,
                 summary={"kind": row.kind, "value": row.value})
    session.delete(row)


def block_dict(r: BlocklistEntry) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"id": r.id, "kind": r.kind, "value": r.value, "source": r.source, "reason": r.reason,
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "active": r.expires_at is None or r.expires_at > now, "created_at": r.created_at.isoformat()}


def create_bank(session: Session, *, actor: str, name: str, source_org: str | None, action_policy: str = "review"
                ) -> HashBank:
    if not name.strip() or len(name) > 100:
        raise Invalid("bank name must be 1-100 characters", field="name")
    if action_policy not in POLICIES:
        raise Invalid("action_policy must be auto_flag or review", field="action_policy")
    if session.execute(select(HashBank.id).where(HashBank.name == name)).first():
        raise Conflict(f"hash bank {name!r} exists", field="name")
    org = org_by_key(session, source_org) if source_org else None
    b = HashBank(name=name.strip(), source_org_id=org.id if org else None, action_policy=action_policy)
    session.add(b)
    session.flush()
    audit.record(session, actor=actor, action="hashbank.create", object_type="hash_bank", object_id=b.id,
                 summary={"name": name, "policy": action_policy, "source": source_org})
    return b


def bank_by_name(session: Session, name: str) -> HashBank:
    b = session.execute(select(HashBank).where(HashBank.name == name)).scalar_one_or_none()
    if b is None:
        raise NotFound(f"hash bank {name!r} not found", field="bank")
    return b


def import_bank_csv(session: Session, *, actor: str, bank: str, text: str) -> tuple[int, int]:
    """Add the CSV's signals (HMA/ThreatExchange columns) to a bank. All-or-nothing. Returns (added, skipped)."""
    b = bank_by_name(session, bank)
    entries = mbank.read_csv(text)
    have = {(t, v) for t, v in session.execute(select(HashBankEntry.signal_type, HashBankEntry.value)
                                                .where(HashBankEntry.bank_id == b.id))}
    added = 0
    for e in entries:
        if (e.signal_type, e.value) in have:
            continue
        session.add(HashBankEntry(bank_id=b.id, signal_type=e.signal_type, value=e.value, labels=list(e.tags)))
        have.add((e.signal_type, e.value))
        added += 1
    session.flush()
    audit.record(session, actor=actor, action="hashbank.import", object_type="hash_bank", object_id=b.id,
                 summary={"added": added, "rows": len(entries)})
    _bump_banks(session)
    return added, len(entries) - added


def add_signal(session: Session, *, actor: str, bank_id: int, signal_type: str, value: str,
               labels: list[str] | tuple[str, ...] = ()) -> HashBankEntry:
    """Add one PDQ or MD5 hash to a bank (validated and normalised like an imported row)."""
    if session.get(HashBank, bank_id) is None:
        raise Invalid("choose an existing bank", field="bank_id")
    try:
        e = mbank.normalise_entry(mbank.BankEntry(signal_type, value, tuple(labels)))
    except Invalid as exc:
        raise Invalid(exc.message, field="value") from None
    if session.execute(select(HashBankEntry.id).where(HashBankEntry.bank_id == bank_id,
                                                      HashBankEntry.signal_type == e.signal_type,
                                                      HashBankEntry.value == e.value)).first():
        raise Conflict("this hash is already in the bank", field="value")
    row = HashBankEntry(bank_id=bank_id, signal_type=e.signal_type, value=e.value, labels=list(e.tags))
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="hashbank.add", object_type="hash_bank_entry", object_id=row.id,
                 summary={"bank_id": bank_id, "signal_type": e.signal_type, "value": e.value})
    _bump_banks(session)
    return row


def remove_signal(session: Session, *, actor: str, entry_id: int) -> None:
    row = session.get(HashBankEntry, entry_id)
    if row is None:
        raise NotFound(f"hash bank entry {entry_id} not found")
    audit.record(session, actor=actor, action="hashbank.remove", object_type="hash_bank_entry", object_id=entry_id,
                 summary={"bank_id": row.bank_id, "signal_type": row.signal_type, "value": row.value})
    session.delete(row)
    _bump_banks(session)


def export_bank_csv(session: Session, bank: str) -> str:
    b = bank_by_name(session, bank)
    rows = session.execute(select(HashBankEntry).where(HashBankEntry.bank_id == b.id).order_by(HashBankEntry.id))
    return mbank.write_csv(mbank.BankEntry(r.signal_type, r.value, tuple(r.labels)) for r in rows.scalars())


def _bump_banks(session: Session) -> None:
    from qinglang.store.models import Meta

    row = session.get(Meta, "hash_banks_version")
    session.merge(Meta(key="hash_banks_version", value=str(int(row.value) + 1 if row else 1)))


@dataclass
class _LoadedBanks:
    version: str
    banks: dict[int, tuple[HashBankInfo, mbank.HashBank]]


@dataclass(frozen=True)
class HashBankInfo:
    id: int
    name: str
    action_policy: str


_cache: dict[str, _LoadedBanks] = {}


def match_images(session: Session, images: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
    """Hash-bank hits for (md5, pdq) pairs, using an in-memory copy of the banks reloaded when they change."""
    from qinglang.store.models import Meta

    version_row = session.get(Meta, "hash_banks_version")
    version = version_row.value if version_row else "0"
    key = str(session.get_bind().engine.url)
    loaded = _cache.get(key)
    if loaded is None or loaded.version != version:
        banks: dict[int, tuple[HashBankInfo, mbank.HashBank]] = {}
        for b in session.execute(select(HashBank)).scalars():
            hb = mbank.HashBank()
            for e in session.execute(select(HashBankEntry).where(HashBankEntry.bank_id == b.id)).scalars():
                hb.add(mbank.BankEntry(e.signal_type, e.value, tuple(e.labels)))
            banks[b.id] = (HashBankInfo(b.id, b.name, b.action_policy), hb)
        loaded = _cache[key] = _LoadedBanks(version, banks)
    hits = []
    for md5, pdq in images:
        for info, hb in loaded.banks.values():
            matches = hb.match_md5(md5) + (hb.match_pdq(pdq) if pdq else [])
            if matches:
                m = min(matches, key=lambda x: x.distance)
                hits.append({"bank": info.name, "policy": info.action_policy, "signal_type": m.entry.signal_type,
                             "distance": m.distance, "labels": list(m.entry.tags)})
    return hits


def networks(session: Session, *, kind: str | None = None, min_cases: int = 2, limit: int = 50,
             case_filter: Any = None) -> list[dict[str, Any]]:
    """Indicators that link several cases, largest first, with their cases."""
    q = (select(Indicator.id, Indicator.kind, Indicator.value, func.count(func.distinct(CaseIndicator.case_id)))
         .join(CaseIndicator, CaseIndicator.indicator_id == Indicator.id)
         .group_by(Indicator.id, Indicator.kind, Indicator.value)
         .having(func.count(func.distinct(CaseIndicator.case_id)) >= min_cases)
         .order_by(func.count(func.distinct(CaseIndicator.case_id)).desc()).limit(limit))
    if kind:
        q = q.where(Indicator.kind == kind)
    out = []
    for iid, k, v, _n in session.execute(q):
        cq = select(Case).join(CaseIndicator, CaseIndicator.case_id == Case.id).where(CaseIndicator.indicator_id == iid)
        if case_filter is not None:
            cq = case_filter(cq)
        cases = list(session.execute(cq.order_by(Case.id)).scalars())
        if not cases:
            continue
        # Counts only what the caller may see, so an org agent learns nothing about other organisations' cases.
        out.append({"indicator": {"id": iid, "kind": k, "value": v}, "case_count": len(cases),
                    "cases": [{"id": c.id, "category": c.category, "state": c.state, "reporter_count": c.reporter_count}
                              for c in cases]})
    return out

