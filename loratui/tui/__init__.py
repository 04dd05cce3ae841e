"""The Textual terminal UI. The only package allowed to import textual."""

import os

# Textual draws pending changes on a fixed clock (TEXTUAL_FPS, default 60): a key's effect waits up to 16.7 ms
# for the next tick. 120 halves that wait; a user's own TEXTUAL_FPS wins. Set before textual is imported.
os.environ.setdefault("TEXTUAL_FPS", "120")
