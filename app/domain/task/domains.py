"""Which hosts a task's browser may reach (policy.allow_domains): pure matching, no I/O."""

from __future__ import annotations

from urllib.parse import urlsplit


def host_allowed(host: str, allowed: list[str]) -> bool:
    """`example.com` allows exactly that host (any port); `*.example.com` allows its
    subdomains and the domain itself. Case-insensitive; a trailing dot is ignored."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            base = pattern[2:]
            if host == base or host.endswith("." + base):
                return True
        elif host == pattern:
            return True
    return False


def blocked_host(url: str, allowed: list[str] | None) -> str | None:
    """The host of `url` when the allowlist forbids it, else None. Only http(s) and ws(s)
    leave the browser; data:, blob:, about: and the like stay inside it."""
    if allowed is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return None
    host = parts.hostname or ""
    return None if host_allowed(host, allowed) else host
