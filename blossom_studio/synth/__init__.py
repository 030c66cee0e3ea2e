"""Synthesis: strategies, prompt templates, judge-output parsing, rule filters and jobs."""
