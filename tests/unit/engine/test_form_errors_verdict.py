"""How a write's verdict takes the page's form errors into account (validate.with_form_errors)."""

from __future__ import annotations

from app.domain.errors import FailureClass, StepFailure
from app.engine.ports import FormError
from app.engine.validate import with_form_errors

FIELD = FormError("Enter a valid email address.", "Email")
ALERT = FormError("Your changes were saved.")


def test_a_message_about_a_field_fails_a_write_that_looked_done_as_permanent() -> None:
    failure = with_form_errors(None, [FIELD, ALERT])
    assert failure is not None and failure.failure_class is FailureClass.PERMANENT
    assert failure.message == (
        'the form came back with errors: Email: "Enter a valid email address."; "Your changes were saved."'
    )
    assert failure.details["form_errors"][0] == {"message": "Enter a valid email address.", "field": "Email"}


def test_an_alert_about_no_field_does_not_fail_a_write_on_its_own() -> None:
    assert with_form_errors(None, [ALERT]) is None
    assert with_form_errors(None, []) is None


def test_the_errors_lead_the_message_of_a_failure_they_explain() -> None:
    unmet = StepFailure(
        FailureClass.UNEXPECTED, "expectation not met: text contains Saved", {"failed_checks": []}
    )
    failure = with_form_errors(unmet, [FIELD])
    assert failure is not None and failure.failure_class is FailureClass.PERMANENT
    assert failure.message.endswith(
        'Email: "Enter a valid email address."; expectation not met: text contains Saved'
    )
    assert "failed_checks" in failure.details
    alerted = with_form_errors(unmet, [ALERT])
    assert alerted is not None and alerted.failure_class is FailureClass.UNEXPECTED  # unchanged class
    assert alerted.message.startswith('the form came back with errors: "Your changes were saved."')
