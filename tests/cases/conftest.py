"""Fixtures for the pipeline's analysis tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from qinglang.store.models import Debunk


@dataclass(frozen=True)
class Backlog:
    """The demo registry with its claim index saved (the file helper processes load), and report texts: one that
    repeats a debunk's claim, two near-duplicates of each other, and ``n`` more like each other."""

    debunk_id: int
    claim: str

    def texts(self, n: int) -> list[str]:
        return [f"【紧急扩散】{self.claim}！！转给家人",
                "紧急通知：明天全市停水三天，请大家提前储水，转发给亲朋好友！！",
                "【紧急通知】明天全市停水三天,请大家提前储水,转发给亲朋好友!",
                *(f"第{i}号小区的快递柜今天维修，取件请到{i % 7}号门卫室" for i in range(n))]


@pytest.fixture
def backlog(db: Any, settings: Any) -> Backlog:
    from qinglang.debunks import registry
    from qinglang.demo import load_demo
    from qinglang.match.store_source import holder, set_index_dir

    load_demo(db, settings)
    set_index_dir(db, settings.data_dir / "index")
    holder(db).get()  # builds and saves the index file the helper loads
    with db.read() as s:
        d = s.execute(select(Debunk).where(Debunk.key == "zh-days-of-darkness")).scalar_one()
        return Backlog(d.id, registry.current(registry.get(s, d.id)).claim)
