"""bench/pages.py's bare Django: the project's settings without its apps and middleware, one view."""

from config.settings import *  # noqa: F403

INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.bare_urls"
