"""The web dashboard served by `evlog server`: pages (projects, runs table, run page, compare),
session sign-in with an API key, the JSON its scripts read, and vendored static assets (no
external network at run time). `routes(server)` gives the Starlette routes."""
from .handlers import routes

__all__ = ["routes"]
