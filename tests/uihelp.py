"""Helpers for pilot tests: wait for the follower thread, make deterministic runs."""

from __future__ import annotations

from pathlib import Path

from rltop.demo import DemoRun


async def wait_for(pilot, predicate, timeout: float = 10.0) -> None:
    """Pause the pilot until ``predicate()`` holds (bounded)."""
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)
        waited += 0.05
    await pilot.pause(0.05)


def demo_folder(root: Path, steps: int = 60) -> Path:
    demo = DemoRun(root, seed=3)
    demo.prefill(steps)
    return root


def loaded(app, runs: int = 1):
    return lambda: (
        app.snapshot is not None and len([r for r in app.snapshot.runs if r.metric_names]) >= runs
    )


def settled(app):
    """Everything on disk has been read and the screen has been given the latest snapshot.

    Snapshot tests need this, not just ``loaded``: under load the follower may still be reading
    rollout files when the first metrics are on screen.
    """

    def check() -> bool:
        return (
            loaded(app)()
            and not app.follower.pending()
            and app.snapshot.version == app.store.snapshot().version
            # the catch-up is over and the screen says so (no progress note, rules running)
            and app.follower.caught_up_version is not None
            and getattr(app, "_catching_up_shown", False) is False
        )

    return check
