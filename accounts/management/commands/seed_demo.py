"""Demo and load-test accounts.

    python manage.py seed_demo
        the named demo accounts (two members, three coaches, one supervisor)
    python manage.py seed_demo --members N --coaches M --supervisors S --capacity C --password P
        member1..memberN, coach1..coachM, supervisor1..supervisorS, all with password P

Reruns update what exists (passwords, capacity) and never fail. The password is
hashed once and reused: a hash costs ~0.4 s here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.supervisors import supervisor_group
from coaches.models import CoachProfile
from members.models import DeliveryType, MemberProfile
from routing.models import Tag

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (printed to whoever runs the demo)


@dataclass
class Account:
    username: str
    name: str
    role: str
    specialties: list[str] = field(default_factory=list)
    weeks: int | None = None
    delivery: str = DeliveryType.UNKNOWN


DEMO_ACCOUNTS = [
    Account("dana", "Dana", "member", weeks=16, delivery=DeliveryType.VAGINAL),
    Account("priya", "Priya", "member", weeks=9, delivery=DeliveryType.UNPLANNED_CESAREAN),
    Account(
        "kelly",
        "Kelly",
        "coach",
        ["leaking", "return-to-running", "exercise-return", "pelvic-tension"],
    ),
    Account("maria", "Maria", "coach", ["prolapse", "diastasis", "c-section", "pelvic-pain"]),
    Account("sam", "Sam", "coach", ["postpartum-mood", "painful-sex", "bowel"]),
    Account("sophie", "Sophie", "supervisor"),
    # Supervisors get the catalogues only (accounts/supervisors.py, least privilege);
    # editing people and their profiles in the admin takes a superuser.
    Account("admin", "Admin", "admin"),
]


class Command(BaseCommand):
    help = "Create (or update) demo accounts, or numbered accounts for load tests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=None)
        parser.add_argument("--coaches", type=int, default=None)
        parser.add_argument("--supervisors", type=int, default=None)
        parser.add_argument("--capacity", type=int, default=3)
        parser.add_argument("--password", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        bulk = any(options[key] is not None for key in ("members", "coaches", "supervisors"))
        password = options["password"] or DEMO_PASSWORD
        if bulk:
            accounts = numbered_accounts(
                members=options["members"] or 0,
                coaches=options["coaches"] or 0,
                supervisors=options["supervisors"] or 0,
            )
        else:
            accounts = DEMO_ACCOUNTS
        seed_accounts(accounts, password=password, capacity=options["capacity"])
        if bulk:
            self.stdout.write(
                f"Seeded {options['members'] or 0} members, {options['coaches'] or 0} coaches "
                f"(capacity {options['capacity']}), {options['supervisors'] or 0} supervisors."
            )
        else:
            self.stdout.write(demo_logins(password))


def demo_logins(password: str = DEMO_PASSWORD) -> str:
    lines = [f"Demo logins (password for all: {password}):"]
    for account in DEMO_ACCOUNTS:
        lines.append(f"  {account.role:<10} {account.username}")
    return "\n".join(lines)


def numbered_accounts(*, members: int, coaches: int, supervisors: int) -> list[Account]:
    slugs = [
        slug
        for slug in Tag.objects.order_by("slug").values_list("slug", flat=True)
        if slug != "red-flag"
    ]
    accounts = [
        Account(f"member{i}", f"Member {i}", "member", weeks=4 + i % 40)
        for i in range(1, members + 1)
    ]
    for i in range(1, coaches + 1):
        # Three specialties each, rotating through the catalogue.
        chosen = [slugs[(3 * (i - 1) + k) % len(slugs)] for k in range(3)] if slugs else []
        accounts.append(Account(f"coach{i}", f"Coach {i}", "coach", chosen))
    accounts += [
        Account(f"supervisor{i}", f"Supervisor {i}", "supervisor")
        for i in range(1, supervisors + 1)
    ]
    return accounts


@transaction.atomic
def seed_accounts(accounts: list[Account], *, password: str, capacity: int) -> None:
    User = get_user_model()
    hashed = make_password(password)
    existing = {
        u.username: u for u in User.objects.filter(username__in=[a.username for a in accounts])
    }
    new_users = [
        User(
            username=a.username,
            first_name=a.name,
            password=hashed,
            is_staff=a.role in ("supervisor", "admin"),
            is_superuser=a.role == "admin",
        )
        for a in accounts
        if a.username not in existing
    ]
    User.objects.bulk_create(new_users, batch_size=500)
    for user in existing.values():
        user.password = hashed
        user.is_active = True
    User.objects.bulk_update(existing.values(), ["password", "is_active"], batch_size=500)
    users = {
        u.username: u for u in User.objects.filter(username__in=[a.username for a in accounts])
    }

    today = timezone.localdate()
    MemberProfile.objects.bulk_create(
        [
            MemberProfile(
                user=users[a.username],
                display_name=a.name,
                baby_birth_date=today - datetime.timedelta(weeks=a.weeks) if a.weeks else None,
                delivery_type=a.delivery,
            )
            for a in accounts
            if a.role == "member"
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    coaches = [a for a in accounts if a.role == "coach"]
    CoachProfile.objects.bulk_create(
        [
            CoachProfile(user=users[a.username], display_name=a.name, capacity=capacity)
            for a in coaches
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    CoachProfile.objects.filter(user__username__in=[a.username for a in coaches]).update(
        capacity=capacity
    )
    tags = {tag.slug: tag for tag in Tag.objects.all()}
    profiles = {
        p.user.username: p
        for p in CoachProfile.objects.select_related("user").filter(
            user__username__in=[a.username for a in coaches]
        )
    }
    for account in coaches:
        profiles[account.username].specialties.set(
            [tags[slug] for slug in account.specialties if slug in tags]
        )
    supervisors = [users[a.username] for a in accounts if a.role == "supervisor"]
    if supervisors:
        User.objects.filter(pk__in=[u.pk for u in supervisors]).update(is_staff=True)
        supervisor_group().user_set.add(*supervisors)
