"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when QINGLANG_TEST_POSTGRES_URL is set),
settings pointing at a temp data dir, an in-process API client, and helpers to make staff and tokens."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from qinglang import accounts
from qinglang.match.store_source import set_index_dir
from qinglang.settings import Settings
from qinglang.store.db import Database
from qinglang.store.migrate import upgrade

PG_URL = os.environ.get("QINGLANG_TEST_POSTGRES_URL", "")


def _reset_postgres(url: str) -> None:
    eng = create_engine(url, poolclass=NullPool)
    with eng.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()


def _backends() -> list[object]:
    pg = pytest.param("postgres", marks=pytest.mark.postgres)
    return ["sqlite", pg]


def make_database(backend: str, tmp_path: Path) -> Database:
    if backend == "postgres":
        if not PG_URL:
            if os.environ.get("CI"):
                pytest.fail("CI must provide QINGLANG_TEST_POSTGRES_URL")
            pytest.skip("QINGLANG_TEST_POSTGRES_URL not set")
        _reset_postgres(PG_URL)
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path / 'qinglang.db'}"
    upgrade(url)
    d = Database(url)
    # The claim index of this database lives under the test's directory: the default (QINGLANG_DATA_DIR, else
    # ./var) would leave an index in the checkout that a later `make run` on a new database would find.
    set_index_dir(d, tmp_path / "index")
    return d


@pytest.fixture(params=_backends())
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated database on each backend (store tests)."""
    db = make_database(request.param, tmp_path)
    yield db
    db.dispose()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated SQLite database (API and domain tests)."""
    d = make_database("sqlite", tmp_path)
    yield d
    d.dispose()


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db.url, secret_key="test-secret-" + "x" * 40,
                    rate_limit=0, jobs="off")


@dataclass
class Staff:
    db: Database

    def org(self, key: str, kind: str = "platform", domains: tuple[str, ...] = (), supervisor: str | None = None
            ) -> int:
        with self.db.write() as s:
            return accounts.create_org(s, actor="test", key=key, kind=kind, name_zh=f"{key} 中文", name_en=key,
                                       jurisdiction={"domains": list(domains)}, supervisor=supervisor).id

    def user(self, username: str, role: str, org: str | None = None, password: str | None = None) -> str:
        """Create a user (token-only unless a password is given: argon2 is slow on purpose) and return a token."""
        with self.db.write() as s:
            accounts.create_user(s, actor="test", username=username, role=role, org=org, password=password)
            _, token = accounts.create_token(s, actor="test", username=username)
        return token


@pytest.fixture
def staff(db: Database) -> Staff:
    return Staff(db)


@pytest.fixture
def client(settings: Settings) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from qinglang.api.app import create_app

    app = create_app(settings, start_worker=False)
    with TestClient(app) as c:
        yield c


