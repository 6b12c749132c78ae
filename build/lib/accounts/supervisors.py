"""The Supervisors group: what a supervisor may do in the admin (least privilege)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

SUPERVISORS_GROUP = "Supervisors"

# Catalogues they maintain, and the audit trail and coaches they may only view.
PERMISSIONS = [
    ("routing", "tag", ["view", "add", "change"]),
    ("routing", "triagerule", ["view", "add", "change", "delete"]),
    ("routing", "assignment", ["view"]),
    ("coaches", "cannedreply", ["view", "add", "change", "delete"]),
    ("coaches", "coachprofile", ["view", "change"]),
    ("chat", "transcriptaccess", ["view"]),
    ("accounts", "loginthrottle", ["view", "delete"]),
]


def supervisor_group() -> Group:
    """The group, created or brought up to date."""
    group, _ = Group.objects.get_or_create(name=SUPERVISORS_GROUP)
    codenames = [(app, f"{verb}_{model}") for app, model, verbs in PERMISSIONS for verb in verbs]
    permissions = [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in codenames
    ]
    group.permissions.set(permissions)
    return group
