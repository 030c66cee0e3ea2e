"""The Export tab: a placeholder until curated sets can be written from the studio."""

from __future__ import annotations

import gradio as gr

from blossom_studio.ui.studio import Studio

EXPORT_PLANS = """### Export is the next step

Exporting curated sets (SFT in the Blossom, OpenAI, ShareGPT or Alpaca layout, and preference pairs; JSONL, CSV or
Parquet; a Chinese/English balance such as `zh:en=1:1`; a dataset card) will live here. Each sample goes out with
its **effective verdict**: its latest review decision, else its judge verdict, so what you accept or override in
the Review tab is what gets exported.

The same export is coming to the command line as

```
python -m blossom_studio export --format blossom --to curated.jsonl [--balance zh:en=1:1] [--limit N]
```
"""


def build_export_tab(demo: gr.Blocks, studio: Studio) -> None:
    """Lay out the Export tab's placeholder (export is not built yet)."""
    del demo, studio  # the real tab will read and write through the studio
    gr.Markdown(EXPORT_PLANS)
