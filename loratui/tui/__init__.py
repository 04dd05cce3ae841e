"""The Textual terminal UI. The only package allowed to import textual."""
