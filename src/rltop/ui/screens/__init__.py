"""Screens of the rltop app."""
