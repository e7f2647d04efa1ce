"""Load the bundled demo data (organisations, staff, routing rules, debunks, sample reports). Idempotent.

Demo staff get random passwords, written once to DATA_DIR/demo-credentials.txt (mode 0600) and never logged.
Sample reports go through the real intake and decision code, so cases, routing, matches and decisions are real.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.progress import track
from sqlalchemy import select

from qinglang import accounts
from qinglang.auth.policy import Principal
from qinglang.cases.routing import add_rule
from qinglang.debunks import registry
from qinglang.settings import Settings, get_settings
from qinglang.store.db import Database
from qinglang.store.models import Debunk, Meta, Organisation, RoutingRule, User

ACTOR = "system:demo"

DEMO_USERS: tuple[tuple[str, str, str | None], ...] = (
    ("admin", "admin", None),
    ("reviewer", "reviewer", "cac-demo"),
    ("reviewer2", "reviewer", "cac-demo"),
    ("expert", "expert", "factcheck-demo"),
    ("expert2", "expert", "medpanel-demo"),
    ("campaigns", "campaign_manager", "cac-demo"),
)


def _demo_file(name: str) -> Any:
    return resources.files("qinglang").joinpath("data", "demo", name)


def load_json(name: str) -> Any:
    return json.loads(_demo_file(name).read_text(encoding="utf-8"))


def load_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _demo_file(name).read_text(encoding="utf-8").splitlines() if line.strip()]


def load_demo(db: Database, settings: Settings | None = None, *, progress: bool = False) -> dict[str, int]:
    settings = settings or get_settings()
    from qinglang.match.store_source import holder, set_index_dir

    set_index_dir(db, settings.data_dir / "index")
    counts = {"organisations": 0, "users": 0, "routing_rules": 0, "debunks": 0, "reports": 0}
    orgs = load_json("organisations.json")
    with db.write() as s:
        existing = set(s.execute(select(Organisation.key)).scalars())
        # Supervisors first so references resolve.
        for o in sorted(orgs, key=lambda o: o.get("supervisor") is not None):
            if o["key"] in existing:
                continue
            accounts.create_org(s, actor=ACTOR, key=o["key"], kind=o["kind"], name_zh=o["name_zh"],
                                name_en=o["name_en"], jurisdiction=o.get("jurisdiction"),
                                supervisor=o.get("supervisor"))
            counts["organisations"] += 1
        if not s.execute(select(RoutingRule.id).limit(1)).first():
            for r in load_json("routing_rules.json"):
                add_rule(s, actor=ACTOR, org=r["org"], category=r.get("category"), domain=r.get("domain"),
                         region=r.get("region"), priority=int(r.get("priority", 0)))
                counts["routing_rules"] += 1
        created: list[tuple[str, str]] = []
        known_users = set(s.execute(select(User.username)).scalars())
        users = list(DEMO_USERS) + [(f"agent-{o['key'].removesuffix('-demo')}", "org_agent", o["key"])
                                    for o in orgs if o["kind"] in ("platform", "agency")]
        for username, role, org in users:
            if username in known_users:
                continue
            password = secrets.token_urlsafe(12)
            accounts.create_user(s, actor=ACTOR, username=username, role=role, org=org, password=password)
            created.append((username, password))
            counts["users"] += 1
    if created:
        _write_credentials(settings.data_dir, created)

    items = load_jsonl("debunks.jsonl")
    with db.write() as s:
        have = set(s.execute(select(Debunk.key)).scalars())
        org_ids = {o.key: o.id for o in s.execute(select(Organisation)).scalars()}
        expert = s.execute(select(User).where(User.username == "expert")).scalar_one()
        actor = Principal.of(expert, via="cli")
        seq = track(items, description="debunks") if progress else items
        for item in seq:
            if item["key"] in have:
                continue
            data = registry.DebunkInput(
                claim=item["claim"], verdict=item["verdict"], summary=item["summary"],
                explanation=item.get("explanation", ""), lang=item["lang"], variants=item.get("variants", []),
                sources=item.get("sources", []), topics=item.get("topics", []))
            published = datetime.fromisoformat(item["published"]).replace(tzinfo=UTC) if item.get("published") \
                else datetime.now(UTC)
            registry.create(s, actor, data, org_id=org_ids[item["org"]], key=item["key"], status="published",
                            published_at=published, actor_label=ACTOR)
            counts["debunks"] += 1
    from qinglang.cases import demo_reports

    counts["reports"] = demo_reports.load(db, settings or get_settings(), load_json("reports.json"),
                                          now=datetime.now(UTC))
    with db.write() as s:
        s.merge(Meta(key="demo_loaded_at", value=datetime.now(UTC).isoformat()))
    from qinglang.jobs.worker import drain

    drain(db)  # index the debunks now, so the first request does not wait for it
    # Saved at the checkpoint the jobs reached (their save waits out SAVE_EVERY), so that a process starting now,
    # a CLI command as much as a server, loads it without catching up every demo debunk again.
    holder(db).save_if_behind()
    return counts


def _write_credentials(data_dir: Path, created: list[tuple[str, str]]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-credentials.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        for username, password in created:
            fh.write(f"{username}\t{password}\n")
