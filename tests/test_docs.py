"""The README documents every setting, and opens with the two set-up commands."""

from __future__ import annotations

from pathlib import Path

from qinglang.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"QINGLANG_{name.upper()}" not in readme]
    assert not missing, f"README misses settings: {missing}"
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no help text"


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block
