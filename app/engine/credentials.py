"""A run's credentials (DESIGN.md G7): checked before the run starts, read from the credential
store at the moment of the action that types them and nowhere else, and every value read is
fed to the run's Redactor, so nothing the run writes afterwards can contain it."""

from __future__ import annotations

from app.domain.errors import FailureClass, StepFailure, TaskValidationError, ValidationIssue
from app.domain.task import FillArgs, Step, Task
from app.engine.ports import SecretSource, SecretUnavailable
from app.secrets import Redactor

NO_STORE = "credentials are not available here (this engine was started without a credential store)"


def check_credentials(task: Task, source: SecretSource | None) -> None:
    """Every credential the task refers to can be read; else TaskValidationError naming the
    step, the reference and the fix. Nothing is read into memory beyond the check."""
    issues = []
    for step, ref in task.secret_refs():
        if source is None:
            message, fix = f"{ref}: {NO_STORE}", "run it where the OS keyring is available"
        else:
            try:
                source.check(ref)
                continue
            except SecretUnavailable as exc:
                name = ref.partition(".")[0]
                message, fix = (
                    f"credential {ref} is not available: {exc}",
                    f"flightdeck credentials add {name}",
                )
        field = "login" if step.id.startswith("login-") and step not in task.steps else "steps"
        issues.append(
            ValidationIssue(task.source or "<task>", step.line, f"{field}: {step.id}", message, fix)
        )
    if issues:
        raise TaskValidationError(issues)


class Credentials:
    def __init__(self, source: SecretSource | None, redactor: Redactor) -> None:
        self.source = source
        self.redactor = redactor

    def for_action(self, step: Step) -> Step:
        """The step as it is handed to the browser: a `secret:` fill gets its value, now.
        The returned step must go nowhere but the browser (and the check of its own effect)."""
        args = step.args
        if not isinstance(args, FillArgs) or args.secret is None:
            return step
        if self.source is None:
            raise StepFailure(
                FailureClass.PERMANENT, f"{args.secret}: {NO_STORE}", {"credential": args.credential}
            )
        try:
            value = self.source.resolve(args.secret)
        except SecretUnavailable as exc:
            raise StepFailure(
                FailureClass.PERMANENT,
                f"credential {args.secret} is not available: {exc}",
                {"credential": args.credential},
            ) from None
        self.redactor.add(value)
        return step.model_copy(update={"args": args.model_copy(update={"value": value})})
