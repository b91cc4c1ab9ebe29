"""Which hosts are the site under test, which the browser may reach (policy.own_domains,
policy.allow_domains), and which requests are the page's own background traffic
(policy.background_requests): pure matching, no I/O. DESIGN.md "Judging on the real web"."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from app.domain.task.expectations import request_url_matches

# Only these leave the browser; data:, blob:, about: and the like stay inside it.
_NETWORK_SCHEMES = ("http", "https", "ws", "wss")


def host_allowed(host: str, allowed: list[str] | tuple[str, ...]) -> bool:
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


def network_host(url: str) -> str | None:
    """The host `url` goes to over the network, or None when it never leaves the browser."""
    parts = urlsplit(url)
    if parts.scheme not in _NETWORK_SCHEMES:
        return None
    return parts.hostname or ""


def blocked_host(url: str, allowed: list[str] | tuple[str, ...] | None) -> str | None:
    """The host of `url` when the allowlist forbids it, else None."""
    if allowed is None:
        return None
    host = network_host(url)
    if host is None:
        return None
    return None if host_allowed(host, allowed) else host


def site_hosts(site: str | None) -> list[str]:
    """A site's host and its subdomains, as domain patterns; none without a site."""
    host = urlsplit(site).hostname if site else None
    return [host, f"*.{host}"] if host else []


@dataclass(frozen=True)
class SiteScope:
    """What a run's requests are judged by.

    `own`: host patterns of the site under test (the task's site and policy.own_domains);
    a request elsewhere is *third-party*: recorded, never judged. None: every host counts (a
    task without a site has nothing to tell them apart by).
    `allowed`: hosts the browser may reach at all (policy.allow_domains); None: anywhere.
    `background`: URL patterns of requests the page sends on its own
    (policy.background_requests): recorded, never judged, never held by the network guard.
    """

    base_url: str | None = None
    own: tuple[str, ...] | None = None
    allowed: tuple[str, ...] | None = None
    background: tuple[str, ...] = ()

    def third_party(self, url: str) -> bool:
        if self.own is None:
            return False
        host = network_host(url)
        return host is not None and not host_allowed(host, self.own)

    def own_host(self, host: str) -> bool:
        """Whether `host` is the site under test's (every host when nothing tells them apart)."""
        return self.own is None or host_allowed(host, self.own)

    def refused(self, url: str) -> str | None:
        """The host of `url` when the allowlist refuses it, else None."""
        return blocked_host(url, self.allowed)

    def declared_background(self, url: str) -> bool:
        return any(request_url_matches(p, url, self.base_url) for p in self.background)
