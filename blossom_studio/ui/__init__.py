"""The Gradio studio: one module per tab, over the library API."""
