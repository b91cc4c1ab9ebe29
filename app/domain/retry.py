"""RetryPolicy, shaped like Temporal's: declared, finite, validated on construction (G5)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.errors import FailureClass

# Classes that are never retried whatever a task says: retrying them repeats a known-bad
# action, or (ambiguous outcome) could fire an irreversible action twice.
ALWAYS_NON_RETRYABLE: frozenset[FailureClass] = frozenset(
    {
        FailureClass.PERMANENT,
        FailureClass.AMBIGUOUS_OUTCOME,
        FailureClass.AMBIGUOUS_TARGET,
        FailureClass.STUCK,
        FailureClass.DENIED,
        FailureClass.BUDGET,
        FailureClass.UNEXPECTED,
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    initial_interval: float = 0.5
    backoff_coefficient: float = 2.0
    maximum_interval: float = 10.0
    maximum_attempts: int = 3
    non_retryable: frozenset[FailureClass] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.initial_interval < 0:
            raise ValueError("initial_interval must be >= 0 seconds")
        if self.backoff_coefficient < 1:
            raise ValueError("backoff_coefficient must be >= 1")
        if self.maximum_interval < self.initial_interval:
            raise ValueError("maximum_interval must be >= initial_interval")
        if self.maximum_attempts < 1:
            raise ValueError("maximum_attempts must be >= 1 (1 means no retries)")

    def retryable(self, failure_class: FailureClass) -> bool:
        return failure_class not in ALWAYS_NON_RETRYABLE | self.non_retryable

    def should_retry(self, attempt: int, failure_class: FailureClass) -> bool:
        """`attempt` is the 1-based number of the attempt that just failed."""
        return attempt < self.maximum_attempts and self.retryable(failure_class)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before the attempt after `attempt` (1-based).

        A server's Retry-After (429/503) is honoured when longer, capped by maximum_interval.
        """
        base = self.initial_interval * self.backoff_coefficient ** max(attempt - 1, 0)
        if retry_after is not None:
            base = max(base, retry_after)
        return float(min(base, self.maximum_interval))
