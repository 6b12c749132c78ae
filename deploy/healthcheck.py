"""Container health probe: GET /healthz on this container's daphne; exit 0 on HTTP 200.

Used by the Dockerfile's HEALTHCHECK and docker-compose.yml (python:3.11-slim has
no curl). Standard library only, so it costs no Django start-up.

Two things make a naive ``GET http://127.0.0.1:8000/healthz`` fail in production,
and the probe handles both:

- Django answers 400 to a Host that is not in ALLOWED_HOSTS, so the probe sends
  the first concrete name from ALLOWED_HOSTS (``localhost`` when there is none).
- With HTTPS=1 Django redirects plain-HTTP requests to https://; nginx or the TLS
  terminator normally says the scheme, so the probe says it too.
"""

from __future__ import annotations

import http.client
import os
import sys

PORT = int(os.environ.get("HEALTHCHECK_PORT", "8000"))
TIMEOUT_SECONDS = 3.0
TRUE_WORDS = {"1", "true", "yes", "on"}  # as config/env.py reads booleans


def probe_host(allowed_hosts: str) -> str:
    """A Host header that Django's ALLOWED_HOSTS accepts."""
    for entry in allowed_hosts.split(","):
        host = entry.strip()
        if host and host != "*":
            # ".example.org" allows example.org and its subdomains.
            return host.lstrip(".")
    return "localhost"


def main() -> int:
    headers = {"Host": probe_host(os.environ.get("ALLOWED_HOSTS", ""))}
    if os.environ.get("HTTPS", "").strip().lower() in TRUE_WORDS:
        # daphne --proxy-headers reads the scheme only alongside X-Forwarded-For.
        headers["X-Forwarded-For"] = "127.0.0.1"
        headers["X-Forwarded-Proto"] = "https"
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/healthz", headers=headers)
        status = connection.getresponse().status
    except OSError as error:
        print(f"healthz: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthz: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
