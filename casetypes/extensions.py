"""The one extension mechanism: named extension points that apps fill from `AppConfig.ready()`.

An app that wants others to add to it declares an `ExtensionPoint` at module level::

    guard_checks = ExtensionPoint("onboarding.guard_checks", "a stage guard's extra checks, by guard name")

and reads it where it acts (``guard_checks.get("production_ready")`` or ``for f in point``).
Another app adds to it from its `ready()`::

    guard_checks.add(counter_problems, key="production_ready")

Adding is idempotent (`ready()` may run more than once in tests), the order of adding is kept,
and `EXTENSION_POINTS` lists every point with what was added, for `manage.py
describe_workflow` and docs/architecture.md. Plain data (no signals): a listener that raises
fails the writer's transaction, which is what an outbox row written beside a change needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

EXTENSION_POINTS: dict[str, ExtensionPoint[Any]] = {}


class ExtensionPoint(Generic[T]):
    """A list of contributions, optionally each under a key (a guard's name, a mail kind)."""

    def __init__(self, name: str, doc: str, *, unique_keys: bool = False) -> None:
        if name in EXTENSION_POINTS:
            raise ValueError(f"extension point {name!r} declared twice")
        self.name = name
        self.doc = doc
        self.unique_keys = unique_keys
        self._items: list[tuple[str | None, T]] = []
        EXTENSION_POINTS[name] = self

    @overload
    def add(self, item: T, *, key: str | None = None) -> T: ...
    @overload
    def add(self, item: None = None, *, key: str | None = None) -> Callable[[T], T]: ...
    def add(self, item: T | None = None, *, key: str | None = None) -> Any:
        """Add `item` (or decorate: ``@point.add(key="kind")``); adding the same twice keeps one."""
        if item is None:
            return lambda func: self.add(func, key=key)
        if (key, item) in self._items:
            return item
        if self.unique_keys and key is not None and any(k == key for k, _ in self._items):
            raise ValueError(f"{self.name}: {key!r} already has an entry")
        self._items.append((key, item))
        return item

    def __iter__(self) -> Iterator[T]:
        return iter([item for _, item in self._items])

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> list[T]:
        return [item for k, item in self._items if k == key]

    def one(self, key: str) -> T | None:
        found = self.get(key)
        return found[0] if found else None

    def items(self) -> list[tuple[str | None, T]]:
        return list(self._items)

    def remove(self, item: T) -> None:
        """Tests only: take back what a test added."""
        self._items = [(k, i) for k, i in self._items if i is not item]

    def __repr__(self) -> str:
        return f"<ExtensionPoint {self.name}: {len(self._items)}>"
