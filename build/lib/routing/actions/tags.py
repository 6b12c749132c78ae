"""Tags on a thread: added by rules, coaches and supervisors; priority follows them."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.roles import Actor, Role
from chat.access import require_staff, thread_for_reader
from chat.actions.notify import thread_changed, thread_save
from chat.errors import not_found
from chat.models import TagSource, Thread, ThreadEvent, ThreadEventKind, ThreadStatus, ThreadTag
from routing.models import Priority, Tag


def thread_tag(
    *, actor: Actor, thread_id: int, add: list[str], remove: list[str]
) -> dict[str, Any]:
    """A coach or supervisor adds and removes tags; returns the staff T."""
    with transaction.atomic():
        thread = thread_for_reader(actor, thread_id, lock=True)
        require_staff(actor, thread, "tag")
        wanted = set(add) | set(remove)
        tags = {tag.slug: tag for tag in Tag.objects.filter(slug__in=wanted, active=True)}
        unknown = sorted(wanted - set(tags))
        if unknown:
            raise not_found(f"tag {unknown[0]!r}")
        source = TagSource.SUPERVISOR if actor.role == Role.SUPERVISOR else TagSource.COACH
        present = set(thread.thread_tags.values_list("tag__slug", flat=True))
        for slug in sorted(set(add) - present):
            ThreadTag.objects.create(
                thread=thread, tag=tags[slug], source=source, added_by_id=actor.id
            )
            ThreadEvent.objects.create(
                thread=thread,
                kind=ThreadEventKind.TAG_ADDED,
                actor_id=actor.id,
                data={"tag": slug, "source": source},
            )
        for slug in sorted(set(remove) & present - set(add)):
            ThreadTag.objects.filter(thread=thread, tag=tags[slug]).delete()
            ThreadEvent.objects.create(
                thread=thread,
                kind=ThreadEventKind.TAG_REMOVED,
                actor_id=actor.id,
                data={"tag": slug, "source": source},
            )
        priority_apply(thread, actor_id=actor.id)
        thread_save(thread, "priority")
        return thread_changed(thread, queue_changed=thread.status == ThreadStatus.QUEUED)


def priority_apply(thread: Thread, *, actor_id: int | None) -> bool:
    """Set the thread's priority from its tags (the most urgent wins); True if it changed."""
    tag_ids = ThreadTag.objects.filter(thread=thread).values("tag_id")
    priorities = Tag.objects.filter(pk__in=tag_ids).values_list("priority", flat=True)
    priority = min(priorities, default=Priority.NORMAL)
    if priority == thread.priority:
        return False
    ThreadEvent.objects.create(
        thread=thread,
        kind=ThreadEventKind.PRIORITY,
        actor_id=actor_id,
        data={"from": Priority(thread.priority).label, "to": Priority(priority).label},
    )
    thread.priority = priority
    return True
