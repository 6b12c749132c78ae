"""`python manage.py demo`, the README's first command, as a newcomer runs it: nothing
configured, a database that does not exist yet, then a login as each kind of user."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request

import pytest

from tests.e2e.conftest import free_port, wait_healthy
from tests.support.live_client import LiveSocket, login
from tests.support.processes import ROOT, fresh_environment

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    # Only the database's place differs from a clean clone: the repo's db.sqlite3 is a
    # developer's own.
    env = fresh_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    log = tmp_path / "demo.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log, timeout=120)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(10)


async def test_the_demo_serves_every_role_with_no_configuration(demo):
    url, log = demo
    printed = log.read_text()
    assert f"Pelvic floor coaching chat: {url}/" in printed
    assert "demo-pass-2026" in printed
    landing = {"dana": "/portal/", "kelly": "/console/", "sophie": "/supervisor/"}
    for username, page in landing.items():
        assert username in printed
        cookie = await asyncio.to_thread(login, url, username, "demo-pass-2026")
        request = urllib.request.Request(f"{url}/", headers={"Cookie": f"sessionid={cookie}"})
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as response:
            assert response.url.endswith(page), (username, response.url)
        socket = await LiveSocket.connect(url, cookie)
        hello = await socket.expect("hello")
        assert hello["user"]["role"] == {"dana": "member", "kelly": "coach"}.get(
            username, "supervisor"
        )
        await socket.close()
    # The admin edits people: a superuser reaches the user list.
    cookie = await asyncio.to_thread(login, url, "admin", "demo-pass-2026")
    request = urllib.request.Request(
        f"{url}/admin/auth/user/", headers={"Cookie": f"sessionid={cookie}"}
    )
    with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as response:
        listing = response.read().decode()
    assert response.status == 200 and "dana" in listing and "kelly" in listing
    assert "Traceback" not in log.read_text()
