"""Reports that repeat a text word for word reuse its analysis until the claim index changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qinglang.cases import analysis

RUMOUR = "Gargling warm salt water every morning cures the virus, share with everyone!"


def test_a_repeated_text_is_analysed_once_per_claim_index_version(db: Any, staff: Any, monkeypatch: Any) -> None:
    from qinglang.auth.policy import Principal
    from qinglang.debunks import registry
    from qinglang.jobs.worker import drain
    from qinglang.store.models import User

    analysed: list[list[str]] = []
    real = analysis._match_texts
    monkeypatch.setattr(analysis, "_match_texts", lambda d, texts: analysed.append(list(texts)) or real(d, texts))
    monkeypatch.setattr(analysis, "_memo", type(analysis._memo)())
    first = analysis.analyze(db, [(1, RUMOUR, ""), (2, RUMOUR, ""), (3, "另一条完全不同的消息，和盐水无关", "")])
    assert analysed == [[RUMOUR, "另一条完全不同的消息，和盐水无关"]]  # the repeat in the same chunk too
    assert first[0] == first[1] and first[0][1] is not None and first[0][0] is None  # triaged; nothing to match yet
    again = analysis.analyze(db, [(4, RUMOUR, ""), (5, "", "only a description, no text")])
    assert analysed[-1] == [""] and again[0] == first[0]  # the rumour came from the memo
    # A debunk published since: the rumour is matched again, and now finds it.
    staff.org("fc", kind="fact_checker")
    staff.user("ex", "expert", org="fc")
    with db.write() as s:
        expert = Principal.of(s.execute(select(User).where(User.username == "ex")).scalar_one(), via="cli")
        debunk = registry.create(s, expert, registry.DebunkInput(
            claim="Gargling salt water cures the virus", verdict="false", summary="It does not",
            explanation="No evidence.", lang="en"), org_id=expert.org_id, status="published").id
    drain(db)
    later = analysis.analyze(db, [(6, RUMOUR, "")])
    assert analysed[-1] == [RUMOUR]
    assert later[0][0] is not None and later[0][0][0] == debunk
