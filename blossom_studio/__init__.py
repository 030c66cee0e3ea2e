"""Blossom Studio: curate Chinese and English LLM fine-tuning data."""

__version__ = "0.1.0"
