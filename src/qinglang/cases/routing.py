"""The linkage mechanism's first step: which organisation is responsible for a case.

Rules map category × platform domain × region (× campaign) to an organisation; NULL matches anything, the
most specific matching rule wins (then the higher priority). A case no rule matches goes to the triage queue
of the regulator (the first organisation of kind `regulator`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.accounts import org_by_key
from qinglang.errors import Invalid
from qinglang.store.models import Organisation, RoutingRule
from qinglang.taxonomy import CATEGORY_CODES, check_code


def add_rule(session: Session, *, actor: str, org: str, category: str | None = None, domain: str | None = None,
             region: str | None = None, priority: int = 0, campaign_id: int | None = None) -> RoutingRule:
    if category is not None:
        check_code(category, CATEGORY_CODES, field="category")
    if domain is not None and ("/" in domain or " " in domain or not domain.strip()):
        raise Invalid("domain must be a bare host name such as weibo.com", field="domain")
    o = org_by_key(session, org)
    rule = RoutingRule(category=category, domain=domain.lower().strip() if domain else None, region=region,
                       org_id=o.id, priority=priority, campaign_id=campaign_id)
    session.add(rule)
    session.flush()
    audit.record(session, actor=actor, action="routing.add", object_type="routing_rule", object_id=rule.id,
                 summary={"category": category, "domain": domain, "region": region, "org": org,
                          "priority": priority})
    return rule


def _domain_matches(rule_domain: str, platform: str | None) -> bool:
    if not platform:
        return False
    platform = platform.lower()
    return platform == rule_domain or platform.endswith("." + rule_domain)


_REGULATOR = "qinglang.routing.regulator"


@dataclass(frozen=True)
class Route:
    org_id: int
    rule_id: int | None
    reason: str


def route(session: Session, *, category: str, platform: str | None, region: str | None = None,
          campaign_id: int | None = None, rules: list[RoutingRule] | None = None) -> Route | None:
    """The responsible organisation for a case, or the regulator's triage queue; None if no regulator exists.

    ``rules``: the routing rules already loaded in this transaction (batch callers), else they are read here."""
    best: tuple[tuple[int, int], RoutingRule] | None = None
    for rule in rules if rules is not None else session.execute(select(RoutingRule)).scalars():
        if rule.category is not None and rule.category != category:
            continue
        if rule.domain is not None and not _domain_matches(rule.domain, platform):
            continue
        if rule.region is not None and rule.region != region:
            continue
        if rule.campaign_id is not None and rule.campaign_id != campaign_id:
            continue
        specificity = sum(x is not None for x in (rule.category, rule.domain, rule.region, rule.campaign_id))
        rank = (specificity, rule.priority)
        if best is None or rank > best[0]:
            best = (rank, rule)
    if best is not None:
        r = best[1]
        parts = [f"category={r.category}" if r.category else "", f"domain={r.domain}" if r.domain else "",
                 f"region={r.region}" if r.region else ""]
        return Route(r.org_id, r.id, f"rule #{r.id} ({', '.join(p for p in parts if p) or 'catch-all'})")
    if _REGULATOR not in session.info:  # read once per session (a batch routes many cases)
        session.info[_REGULATOR] = session.execute(
            select(Organisation.id).where(Organisation.kind == "regulator").order_by(Organisation.id).limit(1)
        ).scalar_one_or_none()
    regulator_id = session.info[_REGULATOR]
    if regulator_id is None:
        return None
    return Route(regulator_id, None, "no rule matched: regulator's triage queue")
