"""ApiError: an HTTP error answer with a machine-readable reason (spec/protocol.md 1.1)."""
from __future__ import annotations

from typing import Any, Dict, Optional


class ApiError(Exception):
    """Raised anywhere in request handling; the app turns it into `{"error", "reason", ...}`."""

    def __init__(self, status: int, reason: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.extra: Dict[str, Any] = extra

    def body(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"error": self.message, "reason": self.reason}
        out.update(self.extra)
        return out

    def headers(self) -> Dict[str, str]:
        """HTTP headers of the answer: `Retry-After` for an error that says when to retry (`retry_after`)."""
        wait = self.extra.get("retry_after")
        return {"Retry-After": str(wait)} if wait is not None else {}


def not_logged_in() -> ApiError:
    return ApiError(401, "not_logged_in", "this needs an API key: run `evlog login` (or set EVLOG_API_KEY)")


def invalid_key() -> ApiError:
    return ApiError(401, "invalid_key", "the API key is not valid on this server: run `evlog login` again")


def no_such_entity(entity: str) -> ApiError:
    return ApiError(404, "no_such_entity", f"entity {entity!r} does not exist (an entity is a user name or a team)")


def no_permission(message: str) -> ApiError:
    return ApiError(403, "no_permission", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def int_param(name: str, text: Optional[str], default: Optional[int], lo: int, hi: int) -> Optional[int]:
    """Query parameter `name` as an int in lo..hi (`default` when absent); 400 bad_request naming
    it and the range otherwise."""
    if text is None:
        return default
    try:
        n = int(text)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {text!r}") from None
    if not lo <= n <= hi:
        raise bad_request(f"{name} must be between {lo} and {hi}, got {n}")
    return n


def bad_name(message: str) -> ApiError:
    return ApiError(400, "bad_name", message)


def too_large(message: str) -> ApiError:
    return ApiError(413, "body_too_large", message)


def hide(exc: ApiError) -> ApiError:
    """A refusal to read, as pages and the dashboard API show it: not found."""
    if exc.status in (401, 403, 404):
        return ApiError(404, "not_found", "no such page (or you may not see it: sign in)")
    return exc
