"""config.wsgi as deployed, plus one response header for bench/mix.py: `X-Bench-Page-Cache`.

`hit` (the page came from the page cache), `miss` (computed and offered to it) or `bypass`
(computed without asking it: a POST, a message waiting, a write in progress); absent for
anything that is not a cached page (API, uploads, logins). It counts through the page cache's
own steps (`_servable`, `_build`, `failed`), looked up by name at call time, so the views are untouched.
Only the bench serves this module; production serves `config.wsgi`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from config import pagecache
from config.wsgi import application as _django

_state = threading.local()
_servable = pagecache._servable
_build = pagecache._build


def _counted_servable(request: Any) -> bool:
    ok = _servable(request)
    _state.outcome = "hit" if ok else "bypass"  # a hit unless `_build` runs next
    return ok


def _counted_build(request: Any, build: Callable[[], Any]) -> Any:
    _state.outcome = "miss"
    return _build(request, build)


def _counted_failed(exc: Exception) -> None:
    _state.outcome = "bypass"  # Redis did not answer: the page is computed without the cache
    _failed(exc)


_failed = pagecache.failed
pagecache.failed = _counted_failed  # type: ignore[assignment]
pagecache._servable = _counted_servable  # type: ignore[assignment]
pagecache._build = _counted_build  # type: ignore[assignment]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    _state.outcome = None

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if _state.outcome:
            headers = [*headers, ("X-Bench-Page-Cache", _state.outcome)]
        return start_response(status, headers, exc_info)

    return _django(environ, start)
