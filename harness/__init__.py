"""Measure whether fine-tuning a small LLM on a table of facts made it recall them."""

__version__ = "0.1.0"
