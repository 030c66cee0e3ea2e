"""Entry point for `python -m blossom_studio`."""

if __name__ == "__main__":  # guarded: import worker processes re-import the main module
    from blossom_studio.cli import main

    raise SystemExit(main())
