"""Writes to threads and messages, one module per area; the only senders of events."""
