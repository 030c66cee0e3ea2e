"""Tests of the model client package."""
