"""Canonical URLs for dedup: lower-case host without `www.`/`m.`, no fragment, no tracking parameters.

Two reports of the same post with different share links (utm_*, spm, from=…) become the same case.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from qinglang.errors import Invalid

TRACKING_PARAMS = frozenset({
    "spm", "from", "share_source", "share_medium", "share_from", "share_plat", "share_session_id", "share_tag",
    "fbclid", "gclid", "igshid", "si", "vd_source", "isappinstalled", "scene", "clicktime", "enterid", "sharer",
    "wfr", "ref", "ref_src", "source", "timestamp", "s", "t", "mid", "sessionid", "sharer_sharetime",
    "sharer_shareid", "xhsshare", "app_platform", "chksm", "mpshare", "srcid", "exportkey", "pass_ticket",
})
MAX_URL = 2000


def canonical_url(url: str, *, field: str = "url") -> tuple[str, str]:
    """(canonical URL, host) for an http(s) URL; `Invalid` naming the field otherwise."""
    raw = url.strip()
    if len(raw) > MAX_URL:
        raise Invalid(f"url is longer than {MAX_URL} characters", field=field)
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise Invalid("url is not a valid URL", field=field) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "." not in parts.hostname:
        raise Invalid("url must be an http(s) URL with a host name", field=field)
    host = parts.hostname.lower().rstrip(".")
    for prefix in ("www.", "m.", "mobile."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=False)
             if k.lower() not in TRACKING_PARAMS and not k.lower().startswith("utm_")]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", netloc, path, urlencode(sorted(query)), "")), host
