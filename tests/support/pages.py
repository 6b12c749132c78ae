"""Reading what a page hands its script."""

from __future__ import annotations

import json
import re
from typing import Any


def page_data(html: str, element_id: str) -> Any:
    """The JSON in a page's `json_script` block with this id."""
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, f"no json_script block #{element_id}"
    return json.loads(match.group(1))
