"""Entry point for `python -m blossom_studio`."""

from blossom_studio.cli import main

raise SystemExit(main())
