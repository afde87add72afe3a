"""Debian's Chromium as the browser tests launch it (tests/test_book.py, tests/test_browser.py): headless in a
container, as root, with nothing fetched from the network."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
