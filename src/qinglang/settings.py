"""Configuration from the environment (prefix QINGLANG_), declared once with help text.

`tests/test_docs.py` fails when the README misses a setting. Never log `secret_key`.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QINGLANG_", extra="ignore")

    data_dir: Path = Field(Path("var"),
                           description="Directory for the SQLite database, secret key, uploads and indexes.")
    database_url: str = Field("", description="SQLAlchemy URL; default sqlite under the data directory. "
                                             "For PostgreSQL: postgresql+psycopg://user:pass@host/db")
    secret_key: SecretStr = Field(SecretStr(""), description="Key for sessions and contact encryption. "
                                  "Generated into DATA_DIR/secret.key on first run when empty.")
    host: str = Field("127.0.0.1", description="Bind address for `qinglang serve`.")
    port: int = Field(8000, description="Port for `qinglang serve`.")
    rate_limit: int = Field(30, description="Public report submissions per minute per IP or token; 0 turns "
                                            "rate limiting off (load benchmarks).")
    jobs: Literal["process", "thread", "off"] = Field(
        "process", description="Where background jobs run: `process` (serve starts one `qinglang worker` process "
                               "beside the API, so matching never competes with intake for the GIL), `thread` "
                               "(inside the server process), `off` (run `qinglang worker` yourself).")
    analysis_processes: int = Field(2, ge=0, description="Helper processes that analyse reports (embedding, matching, "
                                    "triage) while a backlog drains, beside the worker's write transactions; "
                                    "0 analyses in a thread of the worker. Each helper holds its own copy of "
                                    "the models and the claim index.")
    read_ahead: bool = Field(True, description="While reports pour in, analyse the backlog ahead of the "
                             "pipeline's writes in one more helper process that runs only on idle CPU "
                             "(SCHED_IDLE), so the drain after a flood starts with its analysis done. It holds "
                             "its own copy of the models and the claim index.")
    cookie_secure: bool = Field(False, description="Mark session cookies Secure (set true behind HTTPS).")
    match_budget_ms: int = Field(300, description="How long report intake may wait for the instant debunk "
                                                  "answer before acknowledging.")
    log_level: str = Field("info", description="Log level for the JSON logs.")
    huge_pages: bool = Field(True, description="Put a large claim index (the graph index, above 50k rows) into "
                             "2 MiB transparent huge pages once it is built or loaded (Linux 6.1+; faster "
                             "matching and scan forks at 1M debunks, a few seconds at load). false leaves "
                             "memory as allocated.")
    triage_model: str = Field("", description="Path of a retrained triage model bundle (`qinglang triage train "
                                              "--from-db`); empty uses the shipped model.")

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qinglang.db').resolve()}"

    def secret(self) -> str:
        """The secret key, generated and stored (mode 0600) on first use when not configured."""
        value = self.secret_key.get_secret_value()
        if value:
            return value
        path = self.data_dir / "secret.key"
        if path.exists():
            # Keep it in memory: the intake path asks for it on every report.
            self.secret_key = SecretStr(path.read_text().strip())
            return self.secret_key.get_secret_value()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race; use its key
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; a bad value raises `Invalid` naming its variable (one CLI line)."""
    from pydantic import ValidationError

    from qinglang.errors import Invalid

    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "QINGLANG_" + str(err["loc"][0]).upper() if err.get("loc") else "QINGLANG_*"
        raise Invalid(f"bad value {err.get('input')!r}: {err['msg']}", field=name) from None
