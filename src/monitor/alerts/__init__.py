"""Alert rendering, the delivery outbox and its channels."""
