"""rltop: a terminal live monitor for RL and fine-tuning runs of language models."""

__version__ = "0.1.0"
