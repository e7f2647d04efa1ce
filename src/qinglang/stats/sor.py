"""Statements of reasons in the EU DSA Transparency Database submission format, and a validator for them.

One statement per moderation decision. The submission rules (required and conditional fields, enumerations
by key, lengths, formats) are loaded from `dsa_rules.json`, a copy of the shared rules summary, and every
exported statement must pass `validate_statement`. Never put personal data in a statement: no reporter
identity, no contact, no content-owner account, no reported text (the facts are the decision-maker's own words).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang.store.models import Case, Debunk, DebunkVersion, Decision, Report, ReportImage

ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
# Decisions that restrict nothing are not statements of reasons under DSA Art. 17: a referral hands the case
# to another organisation, and "no violation" leaves the content up.
NOT_RESTRICTIONS: frozenset[str] = frozenset({"refer", "no_violation"})


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The DSA submission rules summary shipped with the package."""
    text = resources.files("qinglang.stats").joinpath("dsa_rules.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# taxonomy category → (DSA ground, category, keywords, keyword text for KEYWORD_OTHER).
# Rumors and pornography are mostly lawful speech in the EU, so they are reported as incompatible with the terms
# of service; the rest is illegal content in the jurisdictions qinglang's organisations act under.
CATEGORY_MAP: dict[str, tuple[str, str, tuple[str, ...], str | None]] = {
    "rumor": (INCOMPATIBLE, "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
              ("KEYWORD_MISINFORMATION_DISINFORMATION",), None),
    "fraud": (ILLEGAL, "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", (), None),
    "porn": (INCOMPATIBLE, "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", ("KEYWORD_ADULT_SEXUAL_MATERIAL",), None),
    "minors": (ILLEGAL, "STATEMENT_CATEGORY_PROTECTION_OF_MINORS", (), None),
    "cybercrime": (ILLEGAL, "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", ("KEYWORD_OTHER",),
                   "Hacking, malware, or sale of attack tools or stolen data"),
    "gambling": (ILLEGAL, "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS", ("KEYWORD_PROHIBITED_PRODUCTS",),
                 None),
    "violence": (ILLEGAL, "STATEMENT_CATEGORY_VIOLENCE", ("KEYWORD_INCITEMENT_VIOLENCE_HATRED",), None),
    "hate": (ILLEGAL, "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
             ("KEYWORD_HATE_SPEECH", "KEYWORD_DISCRIMINATION"), None),
    "privacy": (ILLEGAL, "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS", ("KEYWORD_OTHER",),
                "Exposure of personal information without consent (doxxing)"),
    "other": (ILLEGAL, "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE", (), None),
}
# Rumors about health or food safety add the public-health keyword; hate that is mobbing adds cyber violence.
HEALTH_TOPICS: frozenset[str] = frozenset({"health", "food_safety"})
CATEGORY_ADDITION: dict[str, tuple[str, ...]] = {"hate": ("STATEMENT_CATEGORY_CYBER_VIOLENCE",)}

# decision action → restriction fields.
ACTION_MAP: dict[str, dict[str, Any]] = {
    "remove": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
    "restrict": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DEMOTED"]},
    "label": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_LABELLED"]},
    "warn": {"decision_visibility": ["DECISION_VISIBILITY_OTHER"],
             "decision_visibility_other": "A warning was issued to the account that posted the content."},
    "escalate_law_enforcement": {
        "decision_visibility": ["DECISION_VISIBILITY_OTHER"],
        "decision_visibility_other": "The content was reported to law enforcement authorities for investigation."},
}
LANGS = {"zh": "ZH", "en": "EN"}


def _day(value: datetime) -> str:
    return value.astimezone(UTC).date().isoformat()


def _automated_decision(d: Decision) -> str:
    if not d.automated_decision:
        return "AUTOMATED_DECISION_NOT_AUTOMATED"
    return "AUTOMATED_DECISION_PARTIALLY" if d.actor_id is not None else "AUTOMATED_DECISION_FULLY"


def _case_facts(session: Session, case: Case) -> dict[str, Any]:
    reports = session.execute(select(Report.trusted, Report.lang, Report.created_at)
                              .where(Report.case_id == case.id)).all()
    has_image = session.execute(select(ReportImage.id).join(Report, Report.id == ReportImage.report_id)
                                .where(Report.case_id == case.id).limit(1)).first() is not None
    langs = sorted({r.lang for r in reports if r.lang in LANGS})
    first = min([r.created_at for r in reports] + [case.first_reported_at])
    topics: set[str] = set()
    if case.debunk_id is not None:
        topics = set(session.execute(
            select(DebunkVersion.topics).join(Debunk, Debunk.id == DebunkVersion.debunk_id)
            .where(Debunk.id == case.debunk_id, DebunkVersion.version == Debunk.current_version)).scalar() or [])
    return {"trusted": any(r.trusted for r in reports), "reported": bool(reports), "has_image": has_image,
            "lang": langs[0] if len(langs) == 1 else None, "first": first, "topics": topics}


def statement(session: Session, d: Decision) -> dict[str, Any] | None:
    """The DSA statement for one decision, or None when the decision restricts nothing."""
    if d.action in NOT_RESTRICTIONS or d.action not in ACTION_MAP:
        return None
    case = session.get(Case, d.case_id)
    if case is None:
        return None
    facts = _case_facts(session, case)
    ground, category, keywords, keyword_other = CATEGORY_MAP.get(case.category, CATEGORY_MAP["other"])
    kw = list(keywords)
    if case.category == "rumor" and facts["topics"] & HEALTH_TOPICS:
        kw.append("KEYWORD_RISK_PUBLIC_HEALTH")
    st: dict[str, Any] = {"puid": f"qinglang-decision-{d.id}", **json.loads(json.dumps(ACTION_MAP[d.action]))}
    st["decision_ground"] = ground
    if ground == ILLEGAL:
        st["illegal_content_legal_ground"] = d.ground[:500]
        st["illegal_content_explanation"] = d.facts[:2000]
    else:
        st["incompatible_content_ground"] = d.ground[:500]
        st["incompatible_content_explanation"] = d.facts[:2000]
    st["content_type"] = ["CONTENT_TYPE_TEXT"] + (["CONTENT_TYPE_IMAGE"] if facts["has_image"] else [])
    st["category"] = category
    if case.category in CATEGORY_ADDITION:
        st["category_addition"] = list(CATEGORY_ADDITION[case.category])
    if kw:
        st["category_specification"] = kw
    if keyword_other:
        st["category_specification_other"] = keyword_other
    if facts["lang"]:
        st["content_language"] = LANGS[facts["lang"]]
    # The posting date is unknown; the first report is the latest date the content certainly existed.
    st["content_date"] = _day(facts["first"])
    st["application_date"] = _day(d.created_at)
    st["decision_facts"] = d.facts[:5000]
    if facts["trusted"]:
        st["source_type"] = "SOURCE_TRUSTED_FLAGGER"
    elif facts["reported"]:
        st["source_type"] = "SOURCE_ARTICLE_16"
    else:
        st["source_type"] = "SOURCE_VOLUNTARY"
    st["automated_detection"] = "Yes" if d.automated_detection else "No"
    st["automated_decision"] = _automated_decision(d)
    return st


def statements(session: Session, *, since: datetime | None = None, until: datetime | None = None
               ) -> list[dict[str, Any]]:
    """One statement per restricting decision made in [since, until), oldest first."""
    q = select(Decision).order_by(Decision.created_at, Decision.id)
    if since is not None:
        q = q.where(Decision.created_at >= since)
    if until is not None:
        q = q.where(Decision.created_at < until)
    out = []
    for d in session.execute(q).scalars():
        st = statement(session, d)
        if st is not None:
            out.append(st)
    return out


# ---- validation, from the rules file ----------------------------------------------------------------------

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANGE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")
_MAX_RE = re.compile(r"<=\s*(\d{4}-\d{2}-\d{2})")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _condition_holds(st: dict[str, Any], condition: str) -> bool:
    """Conditions in the rules read `field=VALUE` or `field contains VALUE`."""
    if " contains " in condition:
        key, _, want = condition.partition(" contains ")
        have = st.get(key.strip())
        return isinstance(have, list) and want.strip() in have or have == want.strip()
    key, _, want = condition.partition("=")
    have = st.get(key.strip())
    return have == want.strip() or (isinstance(have, list) and want.strip() in have)


def _check_date(name: str, value: Any, fmt: str, *, nullable: bool) -> list[str]:
    if value is None and nullable:
        return []
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return [f"{name}: must be a date YYYY-MM-DD"]
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return [f"{name}: {value!r} is not a calendar date"]
    if m := _RANGE_RE.search(fmt):
        lo, hi = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        if not lo <= day <= hi:
            return [f"{name}: {value} is outside {lo}..{hi}"]
    elif (m := _MAX_RE.search(fmt)) and day > date.fromisoformat(m.group(1)):
        return [f"{name}: {value} is after {m.group(1)}"]
    return []


def _check_format(name: str, value: Any, fmt: str) -> list[str]:
    if fmt.startswith("YYYY-MM-DD"):
        return _check_date(name, value, fmt, nullable="null" in fmt)
    if fmt.startswith("^"):
        if not isinstance(value, str) or not re.fullmatch(fmt, value):
            return [f"{name}: must match {fmt}"]
        return []
    if fmt == "URL":
        parsed = urlparse(value) if isinstance(value, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            return [f"{name}: must be an http(s) URL"]
    return []


def _check_enum(name: str, value: Any, allowed: Any, *, is_array: bool) -> list[str]:
    keys = set(allowed) if isinstance(allowed, dict | list) else set()
    values = value if is_array and isinstance(value, list) else [value]
    bad = [v for v in values if not isinstance(v, str) or v not in keys]
    return [f"{name}: {v!r} is not an allowed value" for v in bad]


def validate_statement(st: dict[str, Any]) -> list[str]:
    """Every way `st` breaks the DSA submission rules (empty list: it passes)."""
    r = rules()
    errors: list[str] = []
    for name in r["required"]:
        if _empty(st.get(name)):
            errors.append(f"{name}: required")
    if all(_empty(st.get(name)) for name in r["one_of_required"]):
        errors.append(f"one of {', '.join(r['one_of_required'])} is required")
    for name, condition in r["required_if"].items():
        if _condition_holds(st, condition) and _empty(st.get(name)):
            errors.append(f"{name}: required when {condition}")
    arrays = set(r["arrays"])
    for name in arrays:
        if name in st and st[name] is not None:
            if not isinstance(st[name], list):
                errors.append(f"{name}: must be an array")
            elif len(set(map(str, st[name]))) != len(st[name]):
                errors.append(f"{name}: has duplicate values")
    for name, allowed in r["enums"].items():
        if name in st and st[name] is not None:
            errors += _check_enum(name, st[name], allowed, is_array=name in arrays)
    for name, limit in r["max_length"].items():
        value = st.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors.append(f"{name}: longer than {limit} characters")
        elif value is not None and not isinstance(value, str):
            errors.append(f"{name}: must be a string")
    for pattern, fmt in r["formats"].items():
        if "*" in pattern:
            rx = re.compile("^" + re.escape(pattern).replace(r"\*", ".+") + "$")
            names = [k for k in st if rx.match(k)]
        else:
            names = [pattern] if pattern in st else []
        for name in names:
            errors += _check_format(name, st[name], fmt)
    return errors
