"""The REST API and the page: `create_app(Settings(db=...))`, served by `vtrail serve`."""

from vtrail.api.app import create_app
from vtrail.api.deps import Settings, is_loopback

__all__ = ["Settings", "create_app", "is_loopback"]
