"""The domain's exception hierarchy.

Domain code raises these; `api/errors.py` maps them to HTTP responses with the one JSON error body and
`cli` maps them to one readable line and a non-zero exit. Never raise HTTP exceptions from domain code.
"""

from __future__ import annotations


class QinglangError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def line(self) -> str:
        """The message with the field it concerns: what a CLI prints."""
        return f"{self.message} ({self.field})" if self.field else self.message


class Invalid(QinglangError):
    """Input that breaks a rule: wrong value, unknown code, malformed file."""

    code = "invalid"
    status = 422


class NotFound(QinglangError):
    code = "not_found"
    status = 404


class Conflict(QinglangError):
    """The request clashes with current state: wrong workflow state, duplicate key, already claimed."""

    code = "conflict"
    status = 409


class Unauthorized(QinglangError):
    code = "unauthorized"
    status = 401


class Forbidden(QinglangError):
    code = "forbidden"
    status = 403


class TooLarge(QinglangError):
    code = "too_large"
    status = 413


class RateLimited(QinglangError):
    code = "rate_limited"
    status = 429
