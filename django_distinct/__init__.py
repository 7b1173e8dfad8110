"""Erase deleted Django users at Distinct, and keep the proof."""

__version__ = "0.1.0"
