"""One typed way for screens and widgets to reach the app (as posting's ``cast("Posting", app)``).

Screens read the snapshot, the warnings tracker, the paths and the settings through
``rltop_app(self)``: attributes a type checker knows, never ``getattr(self.app, "snapshot", None)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from rltop.ui.app import RltopApp


def rltop_app(node: DOMNode) -> RltopApp:
    """The running :class:`~rltop.ui.app.RltopApp` of ``node``."""
    return cast("RltopApp", node.app)
