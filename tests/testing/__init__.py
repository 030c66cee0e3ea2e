"""Tests of the testing helpers."""
