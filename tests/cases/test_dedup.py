"""Reports about the same thing become one case: URL, near-duplicate text (MinHash LSH), same image (MD5/PDQ)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from qinglang.cases import intake, pipeline
from qinglang.store.models import Case, Report


def _img(shift: int = 0, quality: int | None = None) -> bytes:
    img = Image.new("RGB", (160, 120), (250, 250, 245))
    d = ImageDraw.Draw(img)
    d.rectangle([10 + shift, 10, 80 + shift, 100], fill=(200, 20, 20))
    d.ellipse([90, 20, 150, 80], fill=(20, 60, 200))
    d.line([0, 119, 159, 0], fill=(0, 0, 0), width=4)
    buf = io.BytesIO()
    if quality:
        img.save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


_reporters = iter(range(10_000))


def _submit(db: Any, settings: Any, **kw: Any) -> int:
    r = intake.submit_report(db, settings, intake.ReportInput(category=kw.pop("category", "rumor"), **kw),
                             client_key=f"10.0.0.{next(_reporters)}")
    pipeline.process_reports(db, [r.report_id])
    with db.read() as s:
        case_id = s.execute(select(Report.case_id).where(Report.id == r.report_id)).scalar_one()
        assert case_id is not None
        return int(case_id)


def test_near_duplicate_text_joins_the_case(db: Any, settings: Any) -> None:
    a = _submit(db, settings, text="紧急通知：明天全市停水三天，请大家提前储水，转发给亲朋好友！！")
    b = _submit(db, settings, text="紧急通知：明天全市停水三天，请大家提前储水，转发给亲朋好友")
    c = _submit(db, settings, text="【紧急通知】明天全市停水三天,请大家提前储水,转发给亲朋好友!")
    d = _submit(db, settings, text="今天地铁二号线因为设备故障暂停运营两个小时")
    assert a == b == c and d != a
    with db.read() as s:
        case = s.get(Case, a)
        assert case.report_count == 3 and case.reporter_count == 3


def test_same_or_slightly_edited_image_joins_the_case(db: Any, settings: Any) -> None:
    a = _submit(db, settings, category="porn", images=[_img()])
    b = _submit(db, settings, category="porn", images=[_img()], description="same file again")
    c = _submit(db, settings, category="porn", images=[_img(shift=2, quality=70)], description="re-encoded")
    assert a == b == c


def test_decided_cases_are_not_reopened_by_dedup(db: Any, settings: Any) -> None:
    a = _submit(db, settings, url="https://huabo.example/p/5", text="old rumor")
    with db.write() as s:
        s.get(Case, a).state = "closed"  # type: ignore[union-attr]
    b = _submit(db, settings, url="https://huabo.example/p/5", text="old rumor again")
    assert a != b


def test_qr_code_in_a_screenshot_becomes_an_indicator(db: Any, settings: Any, tmp_path: Any) -> None:
    import segno

    from qinglang.store.models import CaseIndicator, Indicator

    path = tmp_path / "qr.png"
    segno.make("https://pay.scam-shop.top/wx?id=9", error="m").save(str(path), scale=6, border=4)
    cid = _submit(db, settings, category="fraud", description="scam payment code", images=[path.read_bytes()])
    with db.read() as s:
        kinds = set(s.execute(select(Indicator.kind, Indicator.value).join(CaseIndicator)
                              .where(CaseIndicator.case_id == cid)).all())
    assert ("domain", "scam-shop.top") in kinds and any(k == "qr" for k, _ in kinds)


def test_the_compiled_walk_decides_by_the_pairwise_jaccard() -> None:
    import numpy as np

    from qinglang.cases import dedup
    from qinglang.cases.nearwalk import first_similar

    rng = np.random.default_rng(5)
    a = np.unique(rng.integers(0, 400, 120)).astype(np.uint32)
    others = [np.unique(rng.integers(0, 400, n)).astype(np.uint32) for n in (0, 1, 50, 120, 300)] + [a.copy()]
    starts = np.concatenate(([0], np.cumsum([len(o) for o in others]))).astype(np.int64)
    arena = np.concatenate(others).astype(np.uint32)
    sketches = np.zeros((len(others), dedup.SKETCH), dtype=np.uint8)
    query = np.zeros(dedup.SKETCH, dtype=np.uint8)
    nxt = np.full(len(others), -1, dtype=np.int64)
    for slot, other in enumerate(others):
        j = dedup.jaccard(a, other)
        heads = np.array([slot], dtype=np.int64)
        assert first_similar(heads, nxt, sketches, query, 0.0, starts, arena, a, j) == slot
        assert first_similar(heads, nxt, sketches, query, 0.0, starts, arena, a, np.nextafter(j, 2.0)) == -1
    # The sketch pre-check drops a member whose sketch agrees on too few positions, however similar its codes.
    sketches[-1, :] = 1
    last = np.array([len(others) - 1], dtype=np.int64)
    assert first_similar(last, nxt, sketches, query, 1.0, starts, arena, a, 0.5) == -1
    assert first_similar(last, nxt, sketches, query, 0.0, starts, arena, a, 0.5) == len(others) - 1


def test_oldest_similar_case_wins_among_many_candidates() -> None:
    from qinglang.cases import dedup

    index = dedup.DedupIndex()
    base = "Your parcel is held at customs, pay the release fee at this link within 24 hours or it is returned"
    # Many near-duplicates on later cases, then the same template on an older one: more candidates than one block.
    for i in range(80):
        index.add_text(base + f" ref {i:04d} office {i % 7}", case_id=1000 + i)
    index.add_text(base + " ref 9999 office 9", case_id=5)
    assert index.text_case(base + " ref 5555 office 3") == 5
    assert index.text_case("Completely unrelated text about a football match in the rain tonight") is None


def test_lsh_candidates_are_the_datasketch_query() -> None:
    from qinglang.cases import dedup

    index = dedup.DedupIndex()
    base = "Your parcel is held at customs, pay the release fee at this link within 24 hours or it is returned"
    for i in range(60):
        index.add_text(base + f" ref {i:04d} office {i % 7}" + " extra words" * (i % 5), case_id=100 + i)
    assert index.lsh is not None
    for text in (base, base + " ref 0003 office 3", "Completely unrelated text about a football match tonight"):
        sig = dedup.signature(text)
        assert sig.values is not None and sig.minhash is not None
        assert index._lsh_cases(sig.values) == sorted(index.lsh.query(sig.minhash))
    assert len(index._lsh_cases(dedup.signature(base).values)) > 10  # type: ignore[arg-type]


def test_a_large_case_is_found_through_any_member() -> None:
    from qinglang.cases import dedup

    index = dedup.DedupIndex()
    # A viral case: hundreds of reposts with small edits, drifting away from the first text. A later report close
    # to the last edits (but not to the first text) still joins it, and an unrelated case stays separate.
    words = ("officials", "confirm", "the", "water", "supply", "in", "the", "east", "district", "is", "poisoned",
             "do", "not", "drink", "tap", "water", "until", "further", "notice", "share", "with", "family")
    texts = []
    for i in range(300):
        w = list(words)
        for k in range(min(i // 30, len(w) - 1)):
            w[k] = f"{w[k]}{i % 10}x"
        texts.append(" ".join(w))
    joined = set()
    for t in texts:
        joined.add(index.text_case(t) or 42)
        index.add_text(t, case_id=42)
    index.add_text("A completely different message about a lottery prize you must claim today", case_id=7)
    first = dedup.signature(texts[0]).codes
    last = dedup.signature(texts[-1] + " please").codes
    assert first is not None and last is not None and dedup.jaccard(first, last) < dedup.THRESHOLD
    assert index.text_case(texts[-1] + " please") == 42
    assert index.text_case("A completely different message about a lottery prize you must claim today!!") == 7
    assert joined == {42} and index._cases.count(42) == len(set(texts))  # each distinct variant is a member


def test_the_sketch_estimates_jaccard() -> None:
    import numpy as np

    from qinglang.cases import dedup

    # Texts sharing a known share of words: the one-byte sketch agrees on about J of its positions (b-bit minwise
    # hashing), so it can pre-check candidates; identical texts agree everywhere.
    rng = np.random.default_rng(2)
    vocab = [f"w{i:04d}" for i in range(5000)]
    for _ in range(20):
        base = " ".join(rng.choice(vocab, 60, replace=False))
        words = base.split()
        other = " ".join(words[:45] + list(rng.choice(vocab, 15)))
        a, b = dedup.compute(base), dedup.compute(other)
        assert a.codes is not None and b.codes is not None and a.sketch is not None and b.sketch is not None
        assert a.sketch.dtype == np.uint8 and len(a.sketch) == dedup.SKETCH
        exact = dedup.jaccard(a.codes, b.codes)
        assert abs(float(np.mean(a.sketch == b.sketch)) - exact) < 0.12
        assert (dedup.compute(base).sketch == a.sketch).all()


def test_text_case_below_only_finds_older_cases() -> None:
    from qinglang.cases import dedup

    base = "Your parcel is held at customs, pay the release fee at this link within 24 hours or it is returned"
    for small in (False, True):
        index = dedup.DedupIndex(small=small)
        index.add_text(base + " ref 0001 office 1", case_id=7)
        index.add_text(base + " ref 0002 office 2", case_id=3)
        query = base + " ref 0003 office 3"
        assert index.text_case(query) == 3
        assert index.text_case(query, below=5) == 3
        assert index.text_case(query, below=3) is None  # case 3 is not older than itself; 7 is newer
        assert index.text_case(base + " ref 0002 office 2", below=3) is None  # exact text, same bound


def test_cases_created_in_one_transaction_are_stored_whole(any_db: Any, settings: Any) -> None:
    """Several new cases and joins in one write transaction: each case row holds its counts, reporters, trust,
    triage, priority and deadline as computed after the insert, and the audit chain still verifies (both
    backends)."""
    from qinglang import audit

    db = any_db

    texts = ["刷单返利日结300元，扫码进群，宝妈都在做，加微信 abc12345 领取任务",
             "刷单返利日结300元,扫码进群,宝妈都在做,加微信 abc12345 领取任务!",
             "Your parcel is held at customs, pay the release fee at https://parcel-fee.example/pay within 24 hours",
             "今天地铁二号线因为设备故障暂停运营两个小时，请大家绕行"]
    ids = [intake.submit_report(db, settings, intake.ReportInput(category="fraud", text=t),
                                client_key=key).report_id
           for t, key in zip(texts, ["10.1.0.1", "10.1.0.2", "10.1.0.1", "10.1.0.3"], strict=True)]
    assert pipeline.process_reports(db, ids) == 4
    with db.read() as s:
        reports = {r.id: r for r in s.execute(select(Report).where(Report.id.in_(ids))).scalars()}
        case_ids = [reports[i].case_id for i in ids]
        assert case_ids[0] == case_ids[1] and len(set(case_ids)) == 3
        for cid in set(case_ids):
            case = s.get(Case, cid)
            assert case is not None
            members = [r for r in reports.values() if r.case_id == cid]
            assert case.report_count == len(members)
            assert case.reporter_count == len({r.reporter_key for r in members})
            assert case.trust_sum is not None and case.trust_sum > 0
            assert case.priority > 0 and case.priority_explain
            assert case.triage.get("detectors")
            assert case.due_at is not None and case.first_reported_at <= case.last_reported_at
        fraud = s.get(Case, case_ids[2])
        assert fraud is not None and any(i["kind"] == "url" for i in fraud.triage.get("indicators", []))
        assert audit.verify(s).ok


def test_refresh_indexes_what_other_workers_attached_in_any_order(db: Any, settings: Any) -> None:
    from qinglang.cases import dedup

    texts = ["紧急扩散！西湖区今晚八点起全面停水停电，赶紧囤货", "Breaking: the tap water in district nine is poisoned",
             "内部消息：某超市的鸡蛋是人造的，已经有人中毒"]
    ids = [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=t),
                                client_key=f"10.0.1.{i}").report_id for i, t in enumerate(texts)]
    norms = [dedup.signature(t).norm for t in texts]
    pipeline.process_reports(db, [ids[1]])  # another worker attaches the middle one first
    other = dedup.DedupIndex()  # this worker's index, refreshed from the store in its transactions
    with db.read() as s:
        other.refresh(s)
        case_id = s.execute(select(Report.case_id).where(Report.id == ids[1])).scalar_one()
    assert other.exact == {norms[1]: case_id}  # the unprocessed reports are not indexed
    pipeline.process_reports(db, [ids[2]])
    pipeline.process_reports(db, [ids[0]])  # an older report attached last (jobs of two workers, out of order)
    with db.read() as s:
        other.refresh(s)
        other.refresh(s)  # nothing new: nothing added twice
    assert set(other.exact) == set(norms)
    assert len(other._cases) == len(texts)


def test_refresh_floor_stops_below_the_oldest_unprocessed_report(db: Any, settings: Any, monkeypatch: Any) -> None:
    from qinglang.cases import dedup

    monkeypatch.setattr(dedup, "REFRESH_RECHECK", 0)
    texts = [f"家人们注意！第{n}号小区发现不明病毒，已有多人被隔离，转发提醒身边的人" for n in "一二三四"]
    ids = [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=t),
                                client_key=f"10.0.2.{i}").report_id for i, t in enumerate(texts)]
    pipeline.process_reports(db, [ids[0], ids[2]])
    index = dedup.DedupIndex()
    with db.read() as s:
        index.refresh(s)
    assert index.floor == ids[0]  # ids[1] is still unprocessed: the floor waits below it
    pipeline.process_reports(db, [ids[1], ids[3]])
    with db.read() as s:
        index.refresh(s)
        top = s.execute(select(func.max(Report.id))).scalar_one()
    assert index.floor == top and not index._above
    assert set(index.exact) == {dedup.signature(t).norm for t in texts}
