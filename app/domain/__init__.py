"""Pure types: task spec and validation, states, events, errors, RetryPolicy. No I/O."""
