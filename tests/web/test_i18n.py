"""Every UI string exists in both languages, and every key a template asks for is defined."""

from __future__ import annotations

import re
from pathlib import Path

from qinglang.taxonomy import CASE_STATES, DEBUNK_STATES, ORG_KINDS, ROLES, TOPICS
from qinglang.web import pages_admin, pages_console
from qinglang.web.i18n import STRINGS, translate
from qinglang.web.render import TEMPLATES

KEY_RE = re.compile(r"\bt\('([a-z_0-9.]+)'")


def template_keys() -> set[str]:
    keys: set[str] = set()
    for path in Path(TEMPLATES).rglob("*.html"):
        keys.update(KEY_RE.findall(path.read_text(encoding="utf-8")))
    return keys


def test_both_languages_have_the_same_keys_and_no_empty_strings() -> None:
    assert set(STRINGS["zh"]) == set(STRINGS["en"])
    for lang in ("zh", "en"):
        assert all(v.strip() for v in STRINGS[lang].values()), lang
    # Chinese strings are really Chinese (at least one CJK character), not copied English.
    untranslated = [k for k, v in STRINGS["zh"].items() if not re.search(r"[\u4e00-\u9fff]", v)
                    and v == STRINGS["en"][k]]
    assert untranslated == []


def test_every_static_template_key_is_defined() -> None:
    keys = template_keys()
    assert len(keys) > 150
    static = {k for k in keys if not k.endswith((".", "_"))}
    missing = sorted(static - set(STRINGS["en"]))
    assert missing == []


def test_dynamic_keys_cover_the_taxonomy() -> None:
    needed = {f"topic.{t}" for t in TOPICS} | {f"role.{r}" for r in ROLES} | {f"okind.{k}" for k in ORG_KINDS}
    needed |= {f"dstatus.{s}" for s in DEBUNK_STATES} | {"check.band_match", "check.band_possible"}
    needed |= {f"notice.{n}" for n in pages_console.NOTICES} | {f"admin.{s}" for s in pages_admin.SECTIONS}
    needed |= {f"status.{s}" for s in ("received", "processing", "routed", "in_progress", "decided", "appealed",
                                       "closed")}
    assert sorted(needed - set(STRINGS["en"])) == []
    assert len(CASE_STATES) > 0


def test_translate_fills_parameters_and_shows_missing_keys() -> None:
    assert translate("zh", "home.reports_n", n=3) == "3 条举报"
    assert translate("en", "home.reports_n", n=3) == "3 reports"
    assert translate("en", "no.such.key") == "no.such.key"


def test_singular_forms() -> None:
    assert translate("en", "home.reports_n", n=1) == "1 report"
    assert translate("en", "debunks.count", n=1) == "1 debunk"
    assert translate("en", "debunks.count", n=2) == "2 debunks"
    assert translate("zh", "debunks.count", n=1) == "共 1 条"
