"""Signing in from a browser lands each role on its own page."""

from __future__ import annotations

import pytest

from tests.e2e.browser.conftest import PHONE, log_in, screenshot
from tests.support.factories import PASSWORD, make_coach, make_member, make_supervisor

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("factory", "landing"),
    [(make_member, "/portal/"), (make_coach, "/console/"), (make_supervisor, "/supervisor/")],
)
def test_each_role_lands_on_its_page(new_page, factory, landing):
    user = factory()
    page = new_page()
    log_in(page, user.username, PASSWORD)
    assert page.url.endswith(landing)


def test_wrong_password_shows_an_error_and_stays_on_login(new_page):
    member = make_member()
    page = new_page(PHONE)
    log_in(page, member.username, "wrong password")
    assert "/accounts/login/" in page.url
    assert page.get_by_role("alert").is_visible()
    screenshot(page, "login-error-phone")
