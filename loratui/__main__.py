"""`python -m loratui` runs the same entry point as the `loratui` command."""

from loratui.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
