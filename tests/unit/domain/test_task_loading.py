"""Task files: valid ones load; bad ones name file:line, field and fix, and nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.errors import TaskValidationError
from app.domain.task import Action, Effect, load_task, resolve_inputs
from app.resources import demo_tasks_dir


def issues_of(text: str) -> list[str]:
    with pytest.raises(TaskValidationError) as info:
        load_task(text, "task.yaml")
    return [str(i) for i in info.value.issues]


def test_every_demo_task_loads() -> None:
    files = sorted(demo_tasks_dir().glob("*.yaml"))
    assert len(files) >= 5
    for file in files:
        task = load_task(file.read_text(), str(file))
        assert task.steps and task.site


def test_defaults_and_shorthands() -> None:
    task = load_task(
        """
name: t
site: http://127.0.0.1:1
inputs:
  title: string
  count: {type: integer, default: 2}
steps:
  - goto: /notes
  - click: {role: button, name: Save}
  - click: "#plain-css"
  - fill: {target: {label: Title}, value: "{{ title }}"}
  - press: Enter
  - assert: {text: "Saved"}
""",
        "t.yaml",
    )
    goto, click, css, fill, press, _assert = task.steps
    assert goto.action is Action.GOTO and goto.effect is Effect.READ
    assert click.effect is Effect.WRITE and click.target is not None
    assert click.target.role == "button" and click.target.name == "Save"
    assert css.target is not None and css.target.selector == "#plain-css"
    assert fill.effect is Effect.READ
    assert press.effect is Effect.WRITE
    assert [s.id for s in task.steps][:2] == ["1-goto", "2-click"]
    assert goto.line == 8
    assert resolve_inputs(task, {"title": "x"}) == {"title": "x", "count": 2}


def test_unknown_key_names_line_and_suggests() -> None:
    found = issues_of("name: t\nsite: http://x.test\nsteps:\n  - goto: /\npolicy:\n  step_timout: 3\n")
    assert found == [
        "task.yaml:6: policy.step_timout: unknown key 'step_timout'\n    fix: did you mean 'step_timeout'?"
    ]


def test_unknown_action_suggests_the_right_one() -> None:
    (issue,) = issues_of("name: t\nsite: http://x.test\nsteps:\n  - clik: {text: Go}\n")
    assert "task.yaml:4" in issue and "unknown action or key 'clik'" in issue
    assert "did you mean 'click'" in issue


def test_wrong_type_is_reported_with_the_value() -> None:
    (issue,) = issues_of("name: t\nsite: http://x.test\npolicy:\n  step_timeout: soon\nsteps:\n  - goto: /\n")
    assert issue.startswith("task.yaml:4: policy.step_timeout:")
    assert "'soon'" in issue


def test_durations_are_seconds_or_written_with_units() -> None:
    task = load_task(
        """
name: t
site: http://127.0.0.1:1
policy:
  step_timeout: 1500ms
  deadline: 1h30m
  approval_timeout: 2m
  question_timeout: 45
  retry: {initial_interval: .5s, maximum_interval: 1m}
steps:
  - wait_for: {text: Ready}
    timeout: 90s
""",
        "t.yaml",
    )
    p = task.policy
    assert (p.step_timeout, p.deadline, p.approval_timeout, p.question_timeout) == (1.5, 5400, 120, 45)
    assert (p.retry.initial_interval, p.retry.maximum_interval) == (0.5, 60)
    assert task.steps[0].timeout == 90


def test_a_bad_duration_says_how_to_write_one() -> None:
    found = issues_of("name: t\nsite: http://x.test\nsteps:\n  - goto: /\n    timeout: 60 sec\n")
    assert found == [
        "task.yaml:5: steps[0].timeout: '60 sec' is not a duration\n"
        "    fix: seconds as a number (60) or with units: 500ms, 30s, 2m, 1h30m"
    ]
    (negative,) = issues_of("name: t\nsite: http://x.test\npolicy:\n  deadline: -5\nsteps:\n  - goto: /\n")
    assert negative.startswith("task.yaml:4: policy.deadline:") and "greater than 0" in negative


def test_undefined_template_variable() -> None:
    (issue,) = issues_of(
        "name: t\nsite: http://x.test\ninputs:\n  title: string\nsteps:\n"
        "  - fill: {target: {label: T}, value: '{{ titel }}'}\n"
    )
    assert "task.yaml:6" in issue and "'{{ titel }}' is not defined" in issue
    assert "did you mean 'title'" in issue


def test_output_must_be_extracted_before_use() -> None:
    text = (
        "name: t\nsite: http://x.test\nsteps:\n"
        "  - fill: {target: '#a', value: '{{ total }}'}\n"
        "  - extract: {target: '#t', into: total}\n"
        "  - fill: {target: '#b', value: '{{ outputs.total }}'}\n"
    )
    (issue,) = issues_of(text)
    assert "task.yaml:4" in issue


def test_malformed_urls() -> None:
    found = issues_of("name: t\nsite: not a url\nsteps:\n  - goto: nowhere\n")
    assert any("task.yaml:2: site" in i for i in found)
    found = issues_of("name: t\nsteps:\n  - goto: /relative\n")
    assert any("relative URL '/relative' but the task has no 'site'" in i for i in found)


def test_target_needs_exactly_one_locator() -> None:
    (issue,) = issues_of("name: t\nsite: http://x.test\nsteps:\n  - click: {label: A, css: b}\n")
    assert "task.yaml:4: steps[0].click" in issue and "exactly one of" in issue


def test_yaml_syntax_error_has_line() -> None:
    (issue,) = issues_of("name: t\nsteps:\n  - goto: [unclosed\n")
    assert issue.startswith("task.yaml:") and "not valid YAML" in issue


def test_missing_required_input() -> None:
    task = load_task("name: t\nsite: http://x.test\ninputs: {title: string}\nsteps:\n  - goto: /\n")
    with pytest.raises(TaskValidationError) as info:
        resolve_inputs(task, {})
    assert "missing required input 'title'" in str(info.value)
    with pytest.raises(TaskValidationError):
        resolve_inputs(task, {"title": "a", "nope": "b"})


def test_several_issues_reported_together_in_line_order(tmp_path: Path) -> None:
    found = issues_of(
        "name: t\nsite: http://x.test\nsteps:\n  - goto: /\n  - hover: {label: A, text: B}\n"
        "  - wait_for: {state: visible}\n  - select: {target: '#s'}\n"
    )
    assert len(found) == 3
    assert [f.split(":")[1] for f in found] == ["5", "6", "7"]
