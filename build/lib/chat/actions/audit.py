"""The transcript audit trail: the one place a read of a transcript is recorded."""

from __future__ import annotations

from chat.models import TranscriptAccess, TranscriptAction


def transcript_access_record(
    *, user_id: int, role: str, thread_id: int, action: TranscriptAction
) -> TranscriptAccess:
    """Record that this user, in this role, read a transcript (append-only)."""
    return TranscriptAccess.objects.create(
        user_id=user_id, role=role, thread_id=thread_id, action=action
    )
