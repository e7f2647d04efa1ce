"""Alembic environment: runs migrations against the URL handed over by `qinglang.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from qinglang.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("qinglang.store.migrate sets sqlalchemy.url")


def run(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run(url)
