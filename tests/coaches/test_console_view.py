"""The coach console page over HTTP: who may open it, and the catalogues it hands the script."""

from __future__ import annotations

import re

import pytest

from coaches.models import CannedReply
from tests.support.factories import make_coach, make_member, make_supervisor
from tests.support.pages import page_data

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/console/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/console/"


@pytest.mark.parametrize("factory", [make_member, make_supervisor])
def test_other_roles_are_refused(client, factory):
    client.force_login(factory())
    assert client.get("/console/").status_code == 403


def test_a_coach_gets_the_active_canned_replies_and_the_tag_catalogue(client):
    CannedReply.objects.create(title="Welcome", body="Hi, I'm glad you wrote.", sort_order=1)
    CannedReply.objects.create(title="Retired", body="Old text", active=False)
    client.force_login(make_coach())
    response = client.get("/console/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/js/console.js"></script>' in html
    data = page_data(html, "console-data")
    assert [(r["title"], r["body"]) for r in data["cannedReplies"]] == [
        ("Welcome", "Hi, I'm glad you wrote.")
    ]
    slugs = [tag["slug"] for tag in data["tags"]]
    assert "red-flag" in slugs
    assert "leaking" in slugs
    assert {"slug": "leaking", "name": "Bladder leaking"} in data["tags"]


def test_catalogue_text_cannot_break_out_of_the_data_block(client):
    CannedReply.objects.create(title="</script><script>alert(1)</script>", body="x")
    client.force_login(make_coach())
    html = client.get("/console/").content.decode()
    assert "<script>alert(1)" not in html
    assert page_data(html, "console-data")["cannedReplies"][0]["title"].startswith("</script>")


def test_the_page_has_no_inline_code_and_a_strict_policy(client):
    client.force_login(make_coach())
    response = client.get("/console/")
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert "style=" not in html
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
