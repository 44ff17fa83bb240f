"""A real headless Chromium driven by Playwright, for the console's tests.

The browser is the machine's (``/usr/bin/chromium``, Debian's package, which ``make test``
installs; ``KENNING_CHROMIUM`` names another): Playwright downloads none. It starts with no
background networking, since the machine has no network beyond loopback.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("KENNING_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
