"""Task file → Task, or every problem with file:line, field and fix. Pure: takes text."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Container
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ValidationError

from app.domain.errors import TaskValidationError, ValidationIssue
from app.domain.task import templating
from app.domain.task.durations import DURATION_HINT
from app.domain.task.spec import (
    ARGS_MODEL,
    DEFAULT_EFFECT,
    Action,
    AskArgs,
    Effect,
    ExtractArgs,
    GotoArgs,
    InputSpec,
    Login,
    Policy,
    SignedOut,
    Step,
    Task,
)
from app.domain.task.yamlpos import Path, YamlSyntaxError, line_for, load_with_lines

TOP_KEYS = ("name", "description", "site", "inputs", "session", "login", "policy", "steps", "open")
LOGIN_KEYS = ("page", "steps", "signed_out", "at_start")
STEP_KEYS = ("id", "effect", "expect", "timeout", "retry", "description")
ACTIONS = tuple(a.value for a in Action)


class _Collector:
    def __init__(self, filename: str, lines: dict[Path, int]) -> None:
        self.filename = filename
        self.lines = lines
        self.issues: list[ValidationIssue] = []

    def add(self, path: Path, message: str, fix: str = "") -> None:
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path)
        field = field.replace(".[", "[") or "(file)"
        self.issues.append(ValidationIssue(self.filename, line_for(self.lines, path), field, message, fix))

    def pydantic(self, path: Path, exc: ValidationError, allowed: dict[Path, tuple[str, ...]]) -> None:
        for err in exc.errors():
            loc: Path = tuple(p for p in err["loc"] if not _is_pydantic_branch(p))
            full = (*path, *loc)
            if err["type"] == "extra_forbidden":
                key = str(loc[-1]) if loc else "?"
                options = allowed.get(loc[:-1], ())
                self.add(full, f"unknown key '{key}'", _suggest(key, options))
                continue
            message = err["msg"].removeprefix("Value error, ")
            fix = ""
            if err["type"] == "string_pattern_mismatch" and loc and loc[-1] == "secret":
                message = f"'{err.get('input')}' is not a credential reference"
                fix = "use NAME.FIELD, e.g. secret: shop.password (a literal: no {{ templates }})"
            elif err["type"] == "missing":
                fix = f"add '{loc[-1]}'" if loc else ""
            elif err["type"] == "duration":
                fix = DURATION_HINT
            elif err["type"] in {"float_parsing", "int_parsing", "bool_parsing", "string_type"}:
                fix = f"got {err.get('input')!r}"
            elif err["type"] == "literal_error":
                fix = message
            self.add(full, message, fix)


def _is_pydantic_branch(part: Any) -> bool:
    # Union members appear in error locations as their class names ("Target", "str"...).
    return isinstance(part, str) and (
        part[:1].isupper()
        or part in {"str", "int", "float", "bool", "list[str]"}
        or part.startswith(("function-", "list[", "dict["))
    )


def _suggest(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"use one of: {', '.join(options)}" if options else "remove it"


def load_task(text: str, filename: str = "<task>") -> Task:
    """Parse and validate a whole task file. Raises TaskValidationError listing every issue."""
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise TaskValidationError(
            [
                ValidationIssue(
                    filename, exc.line, "(file)", f"not valid YAML: {exc}", "fix the YAML syntax at that line"
                )
            ]
        ) from None
    out = _Collector(filename, lines)
    if not isinstance(data, dict):
        out.add(
            (),
            "a task file is a mapping with name, site, steps…",
            "start with 'name: my-task' and a 'steps:' list",
        )
        raise TaskValidationError(out.issues)

    for key in data:
        if key not in TOP_KEYS:
            out.add((str(key),), f"unknown key '{key}'", _suggest(str(key), TOP_KEYS))
    if "name" not in data:
        out.add((), "missing 'name'", "add 'name: my-task' at the top")
    elif not isinstance(data["name"], str) or not data["name"].strip():
        out.add(("name",), "name must be non-empty text", "e.g. name: add-note")

    inputs: dict[str, InputSpec] = {}
    raw_inputs = data.get("inputs") or {}
    if not isinstance(raw_inputs, dict):
        out.add(("inputs",), "inputs is a mapping of name → type", "e.g. inputs: {title: string}")
    else:
        for name, spec in raw_inputs.items():
            try:
                inputs[str(name)] = InputSpec.model_validate(spec)
            except ValidationError as exc:
                out.pydantic(("inputs", str(name)), exc, {(): tuple(InputSpec.model_fields)})

    site = data.get("site")
    if isinstance(site, str) and templating.has_references(site):
        # Rendered from the run's inputs when it starts (bind_inputs); checked for a URL then.
        _check_input_refs(site, ("site",), inputs, out)
    elif site is not None and not _valid_http_url(site):
        out.add(("site",), f"'{site}' is not an http(s) URL", "e.g. site: https://shop.example.com")
        site = None

    policy = Policy()
    if data.get("policy") is not None:
        try:
            policy = Policy.model_validate(data["policy"])
        except ValidationError as exc:
            out.pydantic(("policy",), exc, _nested_fields(Policy))

    session = data.get("session")
    if session is not None and (not isinstance(session, str) or not session.strip()):
        out.add(("session",), "session names a session profile", "e.g. session: shop")
        session = None

    is_open = data.get("open", False)
    if not isinstance(is_open, bool):
        out.add(("open",), "open is true or false", "open: true lets an agent send the steps one at a time")
        is_open = False
    # An open task may start with no steps: its agent sends them.
    no_steps = is_open and not data.get("steps")
    indexed = [] if no_steps else _load_steps(data.get("steps"), out, site)
    _check_templates(data["steps"] if indexed else [], ("steps",), indexed, inputs, out)
    steps = [step for _, step in indexed]
    login = _load_login(data, out, site, inputs)
    out.issues.sort(key=lambda issue: issue.line or 0)
    if out.issues:
        raise TaskValidationError(out.issues)
    return Task(
        name=data["name"],
        description=data.get("description"),
        site=site,
        inputs=inputs,
        session=session,
        login=login,
        policy=policy,
        steps=steps,
        open=is_open,
        source=filename,
    )


def _nested_fields(model: type[BaseModel]) -> dict[Path, tuple[str, ...]]:
    fields: dict[Path, tuple[str, ...]] = {(): tuple(model.model_fields)}
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            fields[(name,)] = tuple(ann.model_fields)
    return fields


def _valid_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in {"http", "https"} and bool(parsed.netloc)


def _load_login(
    data: dict[str, Any], out: _Collector, site: str | None, inputs: dict[str, InputSpec]
) -> Login | None:
    """`login:` is a list of steps, or `{page, steps, signed_out, at_start}`."""
    raw = data.get("login")
    if raw is None:
        return None
    root: Path = ("login",)
    page = None
    extra: dict[str, Any] = {}
    if isinstance(raw, dict):
        for key in raw:
            if key not in LOGIN_KEYS:
                out.add((*root, str(key)), f"unknown key '{key}'", _suggest(str(key), LOGIN_KEYS))
        page = raw.get("page")
        if page is not None and not isinstance(page, str):
            out.add((*root, "page"), "page is the login page's URL", "e.g. page: /login")
            page = None
        if page is not None:
            _check_input_refs(page, (*root, "page"), inputs, out)
        extra = _login_extras(raw, out)
        raw, root = raw.get("steps"), ("login", "steps")
    if not isinstance(raw, list) or not raw:
        out.add(root, "login needs a non-empty list of steps", "e.g. login: [{goto: /login}, …]")
        return None
    indexed = _load_steps(raw, out, site, root=root, prefix="login-")
    _check_templates(raw, root, indexed, inputs, out)
    steps = [step for _, step in indexed]
    for index, step in indexed:
        if step.effect is Effect.IRREVERSIBLE or step.action is Action.ASK:
            out.add(
                (*root, index),
                f"a login step cannot be {'an ask' if step.action is Action.ASK else 'irreversible'}",
                "logging in runs again whenever the session expires: keep it to goto, fill, click",
            )
    if page is None:
        page = next((s.args.url for s in steps if isinstance(s.args, GotoArgs)), None)
    if len(steps) != len(raw) or "invalid" in extra:
        return None
    signs = extra.get("signed_out")
    in_place = signs is not None and bool(signs.visible or signs.url)
    if page is None and not in_place:
        out.add(
            root,
            "the login page is not known",
            "add 'page: /login', start with '- goto: /login', or say how a signed-out page looks "
            "(signed_out: {visible: {label: Password}}) to sign in where the form shows",
        )
        return None
    if page is None and extra.get("at_start"):
        out.add(
            ("login", "at_start"),
            "signing in at the start needs the login page",
            "add 'page: /login' or start the block with '- goto: /login'",
        )
        return None
    return Login(page=page, steps=steps, **extra)


def _login_extras(raw: dict[str, Any], out: _Collector) -> dict[str, Any]:
    """`signed_out` and `at_start` of a login mapping (with "invalid" when either is wrong)."""
    extra: dict[str, Any] = {}
    if raw.get("signed_out") is not None:
        try:
            extra["signed_out"] = SignedOut.model_validate(raw["signed_out"])
        except ValidationError as exc:
            out.pydantic(("login", "signed_out"), exc, {(): tuple(SignedOut.model_fields)})
            extra["invalid"] = True
    at_start = raw.get("at_start", False)
    if not isinstance(at_start, bool):
        out.add(("login", "at_start"), "at_start is true or false", "at_start: true signs in before step 1")
        extra["invalid"] = True
    elif at_start:
        extra["at_start"] = True
    return extra


def _load_steps(
    raw: Any, out: _Collector, site: str | None, *, root: Path = ("steps",), prefix: str = ""
) -> list[tuple[int, Step]]:
    if raw is None:
        out.add((), "missing 'steps'", "add a 'steps:' list, e.g. '- goto: /'")
        return []
    if not isinstance(raw, list) or not raw:
        out.add(root, "steps must be a non-empty list", "e.g. steps:\n      - goto: /")
        return []
    steps: list[tuple[int, Step]] = []
    seen_ids: set[str] = set()
    for index, item in enumerate(raw):
        step = _load_step(item, index, out, site, seen_ids, root=root, prefix=prefix)
        if step is not None:
            steps.append((index, step))
    return steps


def _load_step(
    item: Any,
    index: int,
    out: _Collector,
    site: str | None,
    seen_ids: set[str],
    *,
    root: Path,
    prefix: str,
    taken: Container[str] = (),
) -> Step | None:
    """One step of a list (`index` in it): the Step, or None with its problems in `out`.
    `seen_ids` holds the ids of the steps before it (this one's is added); `taken`, more ids
    already used (asked one at a time: it may be a database look-up)."""
    path: Path = (*root, index)
    if not isinstance(item, dict):
        out.add(path, "a step is a mapping with one action", "e.g. - click: {text: Save}")
        return None
    actions = [k for k in item if k in ACTIONS]
    unknown = [k for k in item if k not in ACTIONS and k not in STEP_KEYS]
    for key in unknown:
        out.add((*path, str(key)), f"unknown action or key '{key}'", _suggest(str(key), ACTIONS + STEP_KEYS))
    if len(actions) != 1:
        if not unknown:
            out.add(
                path,
                f"a step needs exactly one action (found {len(actions)})",
                f"use one of: {', '.join(ACTIONS)}",
            )
        return None
    action = Action(actions[0])
    step_id = prefix + str(item.get("id") or f"{index + 1}-{action.value}")
    if step_id in seen_ids or step_id in taken:
        out.add((*path, "id"), f"duplicate step id '{step_id}'", "give each step its own id")
    seen_ids.add(step_id)
    model = ARGS_MODEL[action]
    try:
        args = model.model_validate(item[action.value] if item[action.value] is not None else {})
    except ValidationError as exc:
        out.pydantic((*path, action.value), exc, {(): tuple(model.model_fields)})
        return None
    if isinstance(args, GotoArgs):
        _check_goto(args.url, (*path, "goto"), out, site)
    try:
        return Step.model_validate(
            {
                "id": step_id,
                "action": action,
                "args": args,
                "effect": item.get("effect", DEFAULT_EFFECT[action]),
                "effect_declared": "effect" in item,
                "expect": item.get("expect"),
                "timeout": item.get("timeout"),
                "retry": item.get("retry"),
                "description": item.get("description"),
                "line": line_for(out.lines, path),
            }
        )
    except ValidationError as exc:
        out.pydantic(path, exc, {(): STEP_KEYS})
        return None


def load_step(
    item: Any,
    *,
    index: int,
    site: str | None,
    inputs: dict[str, InputSpec],
    outputs: Callable[[], set[str]],
    ids: Container[str],
    filename: str = "<task>",
) -> Step:
    """Step `index` of a task's `steps:` list, validated alone: what `load_task` would say of
    it in a file whose earlier steps use the ids `ids` and extract `outputs()` (the same
    problems, named `steps[index]…`, without line numbers). Raises TaskValidationError.

    An open run's agent sends its steps one at a time: each is checked here once, in time
    independent of how many came before it (`ids` is asked about this step's id only;
    `outputs` is called only when the step refers to a template value)."""
    out = _Collector(filename, {})
    step = _load_step(item, index, out, site, set(), root=("steps",), prefix="", taken=ids)
    known: set[str] | None = None
    for ref, where in _refs(item, ("steps", index)) if step is not None else []:
        scope, _, name = ref.rpartition(".")
        if known is None and not (scope in {"", "inputs"} and name in inputs):
            known = outputs()
        _check_ref(ref, where, inputs, known or set(), out)
    if out.issues or step is None:
        raise TaskValidationError(out.issues)
    return step


def step_outputs(step: Step) -> set[str]:
    """The names a step makes available to the steps after it ({{ outputs.NAME }})."""
    if isinstance(step.args, ExtractArgs):
        return {step.args.into}
    if isinstance(step.args, AskArgs) and step.args.into:
        return {step.args.into}
    return set()


def _check_goto(url: str, path: Path, out: _Collector, site: str | None) -> None:
    if "{{" in url:
        return  # checked after rendering
    if url.startswith("/"):
        if site is None:
            out.add(
                path,
                f"relative URL '{url}' but the task has no 'site'",
                "add 'site: https://…' at the top, or use an absolute URL",
            )
    elif not _valid_http_url(url):
        out.add(path, f"'{url}' is not a valid URL", "use an absolute http(s) URL or a path like /login")


def _check_templates(
    raw: list[Any], root: Path, steps: list[tuple[int, Step]], inputs: dict[str, InputSpec], out: _Collector
) -> None:
    """Every {{ ref }} names a declared input or an output extracted by an earlier step."""
    outputs: set[str] = set()
    for raw_index, step in steps:
        for ref, where in _refs(raw[raw_index], (*root, raw_index)):
            _check_ref(ref, where, inputs, outputs, out)
        outputs |= step_outputs(step)


def _check_input_refs(value: str, where: Path, inputs: dict[str, InputSpec], out: _Collector) -> None:
    """`site` and `login.page`: known before any step runs, so inputs only."""
    for ref, path in _refs(value, where):
        _check_ref(ref, path, inputs, set(), out)


def _check_ref(
    ref: str, where: Path, inputs: dict[str, InputSpec], outputs: set[str], out: _Collector
) -> None:
    scope, _, name = ref.partition(".")
    if not name:
        scope, name = "", ref
    ok = (scope in {"", "inputs"} and name in inputs) or (scope in {"", "outputs"} and name in outputs)
    if scope not in {"", "inputs", "outputs"}:
        out.add(
            where,
            f"'{{{{ {ref} }}}}': unknown scope '{scope}'",
            "use {{ inputs.NAME }} or {{ outputs.NAME }}",
        )
    elif not ok:
        known = sorted(inputs) + sorted(outputs)
        fix = _suggest(name, known) if known else ""
        out.add(
            where,
            f"'{{{{ {ref} }}}}' is not defined here",
            f"declare it under 'inputs:' or extract it in an earlier step; {fix}".rstrip("; "),
        )


def _refs(value: Any, path: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if isinstance(value, str):
        found.extend((ref, path) for ref in templating.references(value))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_refs(item, (*path, i)))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(_refs(item, (*path, str(key))))
    return found


def resolve_inputs(task: Task, given: dict[str, Any], *, allow_missing: bool = False) -> dict[str, Any]:
    """Inputs for a run, or TaskValidationError naming the input and the fix (also when the
    site or login page made from them is not usable)."""
    try:
        values = task.resolve_inputs(given, allow_missing=allow_missing)
    except ValueError as exc:
        names = ", ".join(f"--input {n}=…" for n, s in task.inputs.items() if s.required)
        raise TaskValidationError(
            [
                ValidationIssue(
                    task.source or "<task>",
                    None,
                    "inputs",
                    str(exc),
                    f"pass {names}" if names else "remove the --input",
                )
            ]
        ) from None
    bind_inputs(task, values)
    return values


def bind_inputs(task: Task, inputs: dict[str, Any]) -> Task:
    """The task with `site` and `login.page` rendered from the run's inputs (what a run
    executes: relative URLs, the allowlist and rate-limit keys then use the real site).
    Raises TaskValidationError naming the field and the input."""
    site, login = task.site, task.login
    issues: list[ValidationIssue] = []

    def rendered(field: str, value: str) -> str | None:
        try:
            return str(templating.render(value, inputs, {}))
        except templating.TemplateError as exc:
            issues.append(ValidationIssue(task.source or "<task>", None, field, str(exc), _input_fix(exc)))
            return None

    if site is not None and templating.has_references(site):
        site = rendered("site", site)
        if site is not None and not _valid_http_url(site):
            names = ", ".join(templating.references(task.site or ""))
            issues.append(
                ValidationIssue(
                    task.source or "<task>",
                    None,
                    "site",
                    f"'{task.site}' became '{site}', which is not an http(s) URL",
                    f"pass the input(s) {names} as a URL, e.g. --input {names.split(',')[0]}=https://…",
                )
            )
    if login is not None and login.page is not None and templating.has_references(login.page):
        page = rendered("login.page", login.page)
        if page is not None and site and site.endswith("/") and page.startswith(site + "/"):
            page = site.rstrip("/") + page[len(site) :]  # "{{ base }}/login", base=https://a.example/
        login = login.model_copy(update={"page": page})
    if issues:
        raise TaskValidationError(issues)
    if site == task.site and login is task.login:
        return task
    return task.model_copy(update={"site": site.rstrip("/") if site else site, "login": login})


def _input_fix(exc: templating.TemplateError) -> str:
    return f"pass --input {exc.missing}=…" if exc.missing else "use {{ NAME }} with a declared input"
