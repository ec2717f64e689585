"""bench/pages.py's bare Django: the project's settings without its middleware, one view."""

from config.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.bare_urls"
