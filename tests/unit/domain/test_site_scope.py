"""Whose request is it (DESIGN.md "Judging on the real web"): the site under test and the hosts
a task declares as its own, what the browser may reach, and the declared background requests."""

from __future__ import annotations

import pytest

from app.domain.errors import TaskValidationError
from app.domain.task import load_task
from app.domain.task.domains import SiteScope

TASK = """
name: t
site: https://shop.example.com
policy:
  own_domains: [api.shop-cdn.net, "*.Payments.example"]
  background_requests: [/editing/ping]
  allow_requests: ["**/track"]
steps:
  - goto: /
"""


def test_the_site_and_its_declared_domains_are_its_own_and_the_default_allowlist() -> None:
    task = load_task(TASK, "task.yaml")
    scope = task.scope()
    assert scope.own == ("shop.example.com", "*.shop.example.com", "api.shop-cdn.net", "*.payments.example")
    assert scope.allowed == scope.own  # declaring a host as the site's own also lets the browser reach it
    assert not scope.third_party("https://www.shop.example.com/x")
    assert not scope.third_party("https://api.shop-cdn.net/orders")
    assert not scope.third_party("https://eu.payments.example/charge")
    assert scope.third_party("https://telemetry.vendor.io/collect")
    assert scope.refused("https://telemetry.vendor.io/collect") == "telemetry.vendor.io"
    assert scope.refused("data:text/plain,x") is None and not scope.third_party("blob:https://x/1")
    # background_requests and its older name, allow_requests, are the same list
    assert scope.declared_background("https://shop.example.com/editing/ping?x=1")
    assert scope.declared_background("https://shop.example.com/api/track")
    assert not scope.declared_background("https://shop.example.com/editing/save")


def test_an_explicit_allowlist_and_no_site() -> None:
    narrow_task = TASK.replace("steps:", "  allow_domains: [shop.example.com]\nsteps:")
    narrow = load_task(narrow_task, "t.yaml").scope()
    assert narrow.allowed == ("shop.example.com",)
    assert narrow.refused("https://api.shop-cdn.net/orders") == "api.shop-cdn.net"  # own, yet refused
    anywhere = load_task("name: t\nsteps:\n  - goto: https://x.example/\n", "t.yaml").scope()
    assert anywhere.own is None and anywhere.allowed is None  # nothing to tell parties by
    assert not anywhere.third_party("https://elsewhere.example/") and anywhere.refused("https://e/") is None
    assert SiteScope().third_party("https://a/") is False


def test_own_domains_are_checked_like_allow_domains() -> None:
    with pytest.raises(TaskValidationError) as info:
        load_task(TASK.replace("api.shop-cdn.net", '"https://api.shop-cdn.net/v1"'), "task.yaml")
    found = [str(i) for i in info.value.issues]
    assert any("policy.own_domains" in i and "is not a host name" in i for i in found), found
