from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def service(request: HttpRequest) -> dict[str, Any]:
    """Values every page may show."""
    return {"demo_mode": settings.DEMO_MODE, "emergency_number": settings.CHAT_EMERGENCY_NUMBER}
