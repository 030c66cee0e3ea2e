"""The layouts the importer understands, in the order auto-detection tries them."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.errors import RecordError
from blossom_studio.ingest.layouts.alpaca import AlpacaLayout
from blossom_studio.ingest.layouts.base import Layout
from blossom_studio.ingest.layouts.chat import BlossomLayout, OpenAILayout
from blossom_studio.ingest.layouts.completions import CompletionsLayout
from blossom_studio.ingest.layouts.mapped import MappedLayout, parse_mapping
from blossom_studio.ingest.layouts.preference import PreferenceLayout
from blossom_studio.ingest.layouts.prompt import PromptLayout
from blossom_studio.ingest.layouts.sharegpt import FireflyLayout, ShareGPTLayout

LAYOUTS: tuple[Layout, ...] = (
    PreferenceLayout(),
    CompletionsLayout(),
    BlossomLayout(),
    OpenAILayout(),
    ShareGPTLayout(),
    FireflyLayout(),
    AlpacaLayout(),
    PromptLayout(),
)
FORMATS: tuple[str, ...] = ("auto", *(layout.name for layout in LAYOUTS))
BY_NAME = {layout.name: layout for layout in LAYOUTS}


def detect(record: dict[str, Any]) -> Layout:
    """Return the first layout that matches the record, or raise a RecordError that says how to map it."""
    for layout in LAYOUTS:
        if layout.matches(record):
            return layout
    keys = ", ".join(list(record)[:20]) or "none"
    raise RecordError(
        f"unknown layout; the record has the keys [{keys}]; "
        "map them with --map prompt=FIELD,response=FIELD,reference=FIELD"
    )


__all__ = ["BY_NAME", "FORMATS", "LAYOUTS", "Layout", "MappedLayout", "detect", "parse_mapping"]
