"""Tests of the command line's synthesis commands."""
