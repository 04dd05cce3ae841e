"""The `loratui` command line: a thin layer that parses arguments and calls core service functions."""
