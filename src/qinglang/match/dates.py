"""Dates for the matcher: when a debunk was published and when a post was written, as day numbers.

A rumour and its debunk circulate at the same time: on CheckThat! 2022 2A Train, 85 % of the matching debunks
were published within 30 days before or 60 days after the tweet (`benchmarks/eval_match.py --gaps`). The matcher
uses the gap (in either direction) as a re-ranker feature and fetches the closest debunks of the post's time
window as extra candidates. Dates are optional on both sides; without one the features are missing and the
re-ranker ranks on the text alone (it is trained on both views). Never reads the clock: "no date" is never
"today".
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime

from qinglang.errors import Invalid

_EPOCH = date(1970, 1, 1).toordinal()
_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%Y/%m/%d", "%Y年%m月%d日")
_GLUED = re.compile(r"^(\d{1,2})([A-Za-z])")
# The signature line Twitter's embed code appends to a quoted post: "— Name (@handle) January 28, 2021".
_SIGNATURE = re.compile(r"[—–-]\s*[^\n—–]*\(@\w{1,40}\)\s+([A-Z][a-z]{2,8}\.? \d{1,2}, \d{4})\W*$")


def parse_date(value: object, *, field: str = "date") -> date | None:
    """A calendar date from a ``date``/``datetime``, an ISO 8601 string (a time part is ignored) or a written
    date such as "26 May 2015" or "May 26, 2015"; None for None or "". Anything else raises Invalid."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a date string such as 2021-01-28", field=field)
    s = _GLUED.sub(r"\1 \2", value.strip())  # "21February 2009"
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise Invalid(f"{field} is not a date: {value[:40]!r} (use YYYY-MM-DD)", field=field)


def day_number(value: object, *, field: str = "date") -> float:
    """Days since 1970-01-01 of ``parse_date(value)``; NaN when there is no date."""
    d = parse_date(value, field=field)
    return float(d.toordinal() - _EPOCH) if d is not None else math.nan


def signature_date(text: str) -> date | None:
    """The date of an embedded post's signature line at the end of ``text`` ("— Name (@handle) Month D, YYYY",
    as Twitter's embed code writes it), or None. How evaluation files of quoted tweets carry their dates."""
    m = _SIGNATURE.search(text.strip())
    if not m:
        return None
    for fmt in ("%B %d, %Y", "%b %d, %Y", "%b. %d, %Y"):
        try:
            return datetime.strptime(m.group(1), fmt).date()
        except ValueError:
            continue
    return None
