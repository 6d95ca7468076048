"""Allow ``python -m promptkit``."""

from promptkit.cli import console_main

console_main()
