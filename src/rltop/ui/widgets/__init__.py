"""Widgets of the rltop app: they render snapshots and post messages."""
