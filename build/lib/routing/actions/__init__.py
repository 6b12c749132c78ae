"""Writes to the queue, assignments, presence and tags; the only senders of routing events."""
