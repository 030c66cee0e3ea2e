"""Start Blossom Studio in the browser (`python app.py`); also the entry point of a Hugging Face Space."""

import sys

from blossom_studio.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
