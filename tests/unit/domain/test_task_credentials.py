"""Credentials, login blocks and domain allowlists in task files: what loads, and what a person
is told (file:line, field, fix) when it does not."""

from __future__ import annotations

import pytest

from app.domain.errors import TaskValidationError
from app.domain.task import FillArgs, bind_inputs, load_task
from app.domain.task.domains import blocked_host, host_allowed

LOGIN_TASK = """
name: shop-order
site: https://shop.example.com
session: shop
login:
  - goto: /login
  - fill: {target: {label: Username}, secret: shop.username}
  - fill: {target: {label: Password}, secret: shop.password}
  - fill: {target: {label: Code}, secret: shop.totp}
  - click: {role: button, name: Sign in}
steps:
  - goto: /orders
  - fill: {target: {label: Note}, value: "hello"}
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(TaskValidationError) as info:
        load_task(text, "task.yaml")
    return [str(i) for i in info.value.issues]


def test_a_login_block_with_credentials_loads() -> None:
    task = load_task(LOGIN_TASK, "task.yaml")
    assert task.session == "shop"
    assert task.login is not None
    assert task.login.page == "/login"  # its first goto
    assert [s.id for s in task.login.steps][:2] == ["login-1-goto", "login-2-fill"]
    assert task.login.credentials() == ["shop"]
    assert [ref for _, ref in task.secret_refs()] == ["shop.username", "shop.password", "shop.totp"]
    fill = task.login.steps[2]
    assert isinstance(fill.args, FillArgs) and fill.args.value is None
    # What the record and the approval card show: the reference, never a value.
    assert fill.summary() == 'fill label="Password" with ••• (shop.password)'


def test_login_page_may_be_given_explicitly() -> None:
    task = load_task(
        """
name: t
site: https://a.example
login:
  page: "/signin*"
  steps:
    - fill: {target: {label: Password}, secret: a.password}
steps:
  - goto: /
""",
        "task.yaml",
    )
    assert task.login is not None and task.login.page == "/signin*"


def test_signed_out_signs_and_at_start_load_with_their_defaults() -> None:
    task = load_task(
        """
name: t
site: https://a.example
login:
  signed_out: {visible: {label: Password}, status: [401, 403]}
  steps:
    - fill: {target: {label: Password}, secret: a.password}
steps:
  - goto: /
""",
        "task.yaml",
    )
    assert task.login is not None and task.login.page is None  # the form shows in place
    assert task.login.signed_out.status == [401, 403]
    assert task.login.signed_out_urls() == [] and not task.login.at_start
    default = load_task(LOGIN_TASK, "task.yaml").login
    assert default is not None and default.signed_out_urls() == ["/login"]
    assert default.signed_out.status == [401, 419, 440] and default.signed_out.visible == []


def test_an_spa_signed_in_at_its_own_url_is_not_signed_out_by_that_url() -> None:
    """The block opens the app's page, where the sign-in form shows in place: with a visible
    sign, that URL is not a sign (else every page of the app would look signed out)."""
    task = load_task(
        """
name: t
site: https://a.example
login:
  signed_out: {visible: {label: Password}}
  at_start: true
  steps:
    - goto: /
    - fill: {target: {label: Password}, secret: a.password}
steps:
  - goto: /
""",
        "task.yaml",
    )
    assert task.login is not None and task.login.page == "/"
    assert task.login.signed_out_urls() == []


def test_bad_signed_out_signs_and_at_start_name_the_line_and_the_fix() -> None:
    found = issues_of(
        """
name: t
site: https://a.example
login:
  signed_out: {status: 200, visibel: {label: Password}}
  at_start: yes please
  steps:
    - fill: {target: {label: Password}, secret: a.password}
steps:
  - goto: /
"""
    )
    assert any("task.yaml:5: login.signed_out.visibel: unknown key 'visibel'" in i for i in found)
    assert any("did you mean 'visible'?" in i for i in found)
    assert any("task.yaml:5: login.signed_out.status: 200 is not an HTTP error status" in i for i in found)
    assert any("task.yaml:6: login.at_start: at_start is true or false" in i for i in found)
    nowhere = issues_of(
        """
name: t
site: https://a.example
login:
  at_start: true
  signed_out: {visible: {label: Password}}
  steps:
    - fill: {target: {label: Password}, secret: a.password}
steps:
  - goto: /
"""
    )
    assert any("login.at_start: signing in at the start needs the login page" in i for i in nowhere)


def test_site_and_login_page_are_rendered_from_inputs_when_the_run_starts() -> None:
    task = load_task(
        """
name: t
inputs: {base: string}
site: "{{ base }}"
login:
  page: "{{ inputs.base }}/signin"
  steps:
    - fill: {target: {label: Password}, secret: a.password}
steps:
  - goto: /
""",
        "task.yaml",
    )
    bound = bind_inputs(task, {"base": "https://shop.example/"})
    assert bound.site == "https://shop.example" and bound.allowed_domains() == [
        "shop.example",
        "*.shop.example",
    ]
    assert bound.login is not None and bound.login.page == "https://shop.example/signin"
    with pytest.raises(TaskValidationError) as missing:
        bind_inputs(task, {})
    assert "site: '{{ base }}' is not defined" in str(missing.value)
    assert "fix: pass --input base=…" in str(missing.value)


def test_fill_needs_exactly_one_of_value_and_secret() -> None:
    both = issues_of(
        """
name: t
site: https://a.example
steps:
  - fill: {target: {label: Password}, value: x, secret: a.password}
"""
    )
    assert any("task.yaml:5: steps[0].fill: give either value or secret" in i for i in both)
    neither = issues_of(
        """
name: t
site: https://a.example
steps:
  - fill: {target: {label: Password}}
"""
    )
    assert any("give either value or secret" in i for i in neither)


BAD_REFS = ["shop", "shop.", ".password", "shop.pass.word", "{{ inputs.cred }}.password"]


@pytest.mark.parametrize("ref", BAD_REFS)
def test_a_malformed_credential_reference_names_the_fix(ref: str) -> None:
    found = issues_of(
        f"""
name: t
site: https://a.example
steps:
  - fill: {{target: {{label: Password}}, secret: "{ref}"}}
"""
    )
    assert len(found) == 1
    assert "steps[0].fill.secret" in found[0] and "is not a credential reference" in found[0]
    assert "fix: use NAME.FIELD, e.g. secret: shop.password" in found[0]


def test_login_block_problems_are_reported_with_lines() -> None:
    found = issues_of(
        """
name: t
site: https://a.example
login:
  - fill: {target: {label: Password}, secret: a.password}
  - click: {role: button, name: Sign in}
    effect: irreversible
steps:
  - goto: /
"""
    )
    assert any("task.yaml:6: login[1]: a login step cannot be irreversible" in i for i in found)
    assert any("login: the login page is not known" in i and "page: /login" in i for i in found)


def test_allow_domains_are_validated_and_default_to_the_site() -> None:
    task = load_task(LOGIN_TASK, "task.yaml")
    assert task.allowed_domains() == ["shop.example.com", "*.shop.example.com"]
    no_site = load_task("name: t\nsteps:\n  - goto: https://x.example/\n", "task.yaml")
    assert no_site.allowed_domains() is None  # anywhere: nothing to derive it from
    found = issues_of(
        """
name: t
site: https://a.example
policy:
  allow_domains: [a.example, "https://b.example/path"]
steps:
  - goto: /
"""
    )
    assert any("policy.allow_domains" in i and "is not a host name" in i for i in found)


def test_host_matching() -> None:
    allowed = ["shop.example.com", "*.cdn.example.net"]
    assert host_allowed("SHOP.example.com", allowed)
    assert host_allowed("cdn.example.net", allowed) and host_allowed("a.b.cdn.example.net", allowed)
    assert not host_allowed("evil-shop.example.com", allowed)
    assert not host_allowed("example.com", allowed)
    assert blocked_host("http://localhost:8000/x", ["127.0.0.1"]) == "localhost"
    assert blocked_host("http://127.0.0.1:9/x", ["127.0.0.1"]) is None
    assert blocked_host("data:text/html,hi", ["127.0.0.1"]) is None
    assert blocked_host("http://anything/", None) is None
