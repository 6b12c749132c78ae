"""The error codes of the wire protocol, raised anywhere, turned into a frame once."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


class ChatError(Exception):
    """A request that cannot be served, with the code and sentence the client gets."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The `ref` of the request that failed, set where the frame was parsed.
        self.ref: str | None = None


def not_found(what: str = "thread") -> ChatError:
    # The same sentence whether the row is missing or merely not yours.
    return ChatError(ErrorCode.NOT_FOUND, f"no such {what}")


def forbidden(message: str) -> ChatError:
    return ChatError(ErrorCode.FORBIDDEN, message)


def conflict(message: str) -> ChatError:
    return ChatError(ErrorCode.CONFLICT, message)


def invalid(message: str) -> ChatError:
    return ChatError(ErrorCode.INVALID, message)
