"""One module per command or command group; each defines ``register(parser)`` and is listed in
``loratui.cli.main.COMMANDS``, which imports it only when its command runs."""
