"""The member portal page over HTTP: who may open it, and what it hands the script."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

from tests.support.factories import make_coach, make_member, make_supervisor
from tests.support.pages import page_data

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/portal/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/portal/"


@pytest.mark.parametrize("factory", [make_coach, make_supervisor])
def test_other_roles_are_refused(client, factory):
    client.force_login(factory())
    assert client.get("/portal/").status_code == 403


def test_a_member_gets_her_page_with_the_script_and_no_inline_code(client):
    member = make_member("Dana")
    client.force_login(member)
    response = client.get("/portal/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hi Dana." in html
    assert '<script type="module" src="/static/js/portal.js"></script>' in html
    assert page_data(html, "portal-data") == {"loginUrl": "/accounts/login/"}
    # Every script is a file or a JSON data block; no style attributes (strict CSP).
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert "style=" not in html
    assert 'aria-live="polite"' in html
    assert 'for="composer-text"' in html


def test_the_page_carries_a_strict_content_security_policy(client):
    client.force_login(make_member())
    policy = client.get("/portal/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_the_page_scripts_and_styles_are_static_files():
    for path in ("js/portal.js", "js/socket.js", "js/chat-ui.js", "css/app.css"):
        assert finders.find(path), path
