"""A run's credentials (DESIGN.md G7): checked before the run starts, read from the credential
store at the moment of the action that types them and nowhere else.

Every execution of a run — fresh, resumed, continued after an answer, in whichever process —
first `prime`s the run's Redactor with the value of every secret field the task can type, so
nothing it writes can hold one, even before it types anything (and the Sealer, so that what the
run is continued from holds placeholders instead: app/domain/sealing.py). Fields that are not
secret (a username, by default) are typed but never masked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from app.domain.errors import FailureClass, StepFailure, TaskValidationError, ValidationIssue
from app.domain.sealing import Sealer
from app.domain.task import FillArgs, Step, Task
from app.engine.ports import SecretSource, SecretUnavailable
from app.secrets import Redactor

T = TypeVar("T")

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
    def __init__(self, source: SecretSource | None, redactor: Redactor, sealer: Sealer | None = None) -> None:
        self.source = source
        self.redactor = redactor
        self.sealer = sealer
        self._secret: dict[str, bool] = {}  # NAME.FIELD → whether its values are masked (once read)

    def prime(self, refs: Iterable[str]) -> StepFailure | None:
        """Learn the stored value of every secret field among `refs` before anything is
        written. Returns the failure of the first reference that cannot be read (the run must
        not go on: it would type nothing, and could not mask it), else None."""
        first: StepFailure | None = None
        for ref in dict.fromkeys(refs):
            try:
                self._is_secret(ref)
            except StepFailure as failure:
                first = first or failure
        return first

    def for_action(self, step: Step) -> Step:
        """The step as it is handed to the browser: a `secret:` fill gets its value, now.
        The returned step must go nowhere but the browser (and the check of its own effect)."""
        args = step.args
        if not isinstance(args, FillArgs) or args.secret is None:
            return step
        ref = args.secret
        secret = self._is_secret(ref)
        value = self._read(ref, args.credential, lambda source: source.resolve(ref))
        if secret:
            self.redactor.add(value)  # a TOTP code: the one generated now
        return step.model_copy(update={"args": args.model_copy(update={"value": value})})

    def _is_secret(self, ref: str) -> bool:
        known = self._secret.get(ref)
        if known is None:
            stored = self._read(ref, ref.partition(".")[0], lambda source: source.secret_value(ref))
            if stored is not None:
                self.redactor.add(stored)
                # A code is not stored, it is generated: a placeholder could not give it back.
                if self.sealer is not None and ref.partition(".")[2] != "totp":
                    self.sealer.add(ref, stored)
            known = self._secret[ref] = stored is not None
        return known

    def _read(self, ref: str, credential: str | None, read: Callable[[SecretSource], T]) -> T:
        if self.source is None:
            raise StepFailure(FailureClass.PERMANENT, f"{ref}: {NO_STORE}", {"credential": credential})
        try:
            return read(self.source)
        except SecretUnavailable as exc:
            raise StepFailure(
                FailureClass.PERMANENT,
                f"credential {ref} is not available: {exc}",
                {"credential": credential},
            ) from None
