"""Working-day arithmetic on the calendar kept in the database (`CalendarDay`).

A day is a working day when an administrator (or the seed from `chinesecalendar`) says so,
and otherwise when it is Monday to Friday. A year nobody has entered therefore falls back
to Monday–Friday without any special case and without error.

Working time is measured as whole days: a working day counts 24 hours, any other day none.
"N working days after t" is then the same time of day N working days later, and a pause is
worth exactly the working time that passed during it (a suspension from Friday evening to
Monday morning costs the stage a few hours, not a weekend).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from django.utils import timezone

from casetypes import declaration

DAY = 86400
_AFTER_MOST = 4096  # `add_working_days`'s days kept per calendar (days filed on × counts asked)
_EPOCH = dt.date(1970, 1, 5)  # a Monday
Loader = Callable[[dt.date, dt.date], Mapping[dt.date, bool]]


def _weekdays_before(day: dt.date) -> int:
    """Monday–Friday days in [_EPOCH, day)."""
    weeks, rest = divmod((day - _EPOCH).days, 7)
    return weeks * 5 + min(rest, 5)


class WorkCalendar:
    """The working days between `lo` and `hi`, loading more from `loader` when asked beyond them."""

    def __init__(self, exceptions: Mapping[dt.date, bool], lo: dt.date, hi: dt.date, loader: Loader | None) -> None:
        self._loader = loader
        self._set(exceptions, lo, hi)

    def _set(self, exceptions: Mapping[dt.date, bool], lo: dt.date, hi: dt.date) -> None:
        self.lo, self.hi = lo, hi
        self._days = dict(exceptions)
        self._after: dict[tuple[dt.date, int], dt.date] = {}  # `add_working_days`'s days, as found
        self._dates = sorted(self._days)
        # How each stored day changes the Monday–Friday count, accumulated for bisect.
        self._prefix = [0]
        for d in self._dates:
            delta = int(self._days[d]) - int(d.weekday() < 5)
            self._prefix.append(self._prefix[-1] + delta)

    def _cover(self, lo: dt.date, hi: dt.date) -> None:
        if self._loader is None or (self.lo <= lo and hi <= self.hi):
            return
        lo, hi = min(lo, self.lo), max(hi, self.hi) + dt.timedelta(days=60)
        self._set(self._loader(lo, hi), lo, hi)

    def is_workday(self, day: dt.date) -> bool:
        self._cover(day, day)
        known = self._days.get(day)
        return known if known is not None else day.weekday() < 5

    def workdays_before(self, day: dt.date) -> int:
        """Working days in [_EPOCH, day); only differences between two covered days are meaningful."""
        return _weekdays_before(day) + self._prefix[bisect.bisect_left(self._dates, day)]

    def working_seconds(self, start: dt.datetime, end: dt.datetime) -> int:
        """Working time from `start` to `end` (negative when `end` is earlier)."""
        a, b = timezone.localtime(start), timezone.localtime(end)
        self._cover(min(a.date(), b.date()), max(a.date(), b.date()))
        return self._position(b) - self._position(a)

    def position(self, local: dt.datetime) -> int:
        """Where a local time stands in working time (from a fixed origin): `working_seconds(a, b)`
        is `position(b) - position(a)` of their local times. For a page of due times measured
        against one moment: that moment's position is taken once, each due time's once."""
        day = local.date()
        self._cover(day, day)
        return self._position(local)

    def _position(self, t: dt.datetime) -> int:
        d = t.date()
        into = t.hour * 3600 + t.minute * 60 + t.second
        return self.workdays_before(d) * DAY + (into if self.is_workday(d) else 0)

    def cutoff(self, end: dt.datetime, seconds: int) -> dt.datetime:
        """The moment E with `working_seconds(t, end) >= seconds` exactly when `t < E`.

        So "has `t` been late by `seconds` of working time at `end`?" becomes one comparison
        of `t` with E, which a query can make for thousands of rows at once (the sweep).
        Positions count whole seconds, so E is one second after the last such second.
        """
        local_end = timezone.localtime(end)
        target = self._position(local_end) - int(seconds)
        weeks_back = int(seconds) // DAY // 5 + 2
        self._cover(local_end.date() - dt.timedelta(days=7 * weeks_back + 30), local_end.date() + dt.timedelta(days=30))
        index, into = divmod(target, DAY)
        # The working day with `index` working days before it (unique; the walk is at most a
        # few weeks since `seconds` is a few service levels).
        day = local_end.date()
        while self.workdays_before(day) > index:
            day -= dt.timedelta(days=1)
        while not (self.is_workday(day) and self.workdays_before(day) == index):
            day += dt.timedelta(days=1)
        naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=into + 1)
        return timezone.make_aware(naive)

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The same (local) time of day, `days` working days after `start`."""
        local = timezone.localtime(start)
        day = self._working_days_after(local.date(), days)
        # `make_aware` in the zone `localtime` used (the current one): the same moment, one look-up.
        return dt.datetime.combine(day, local.time(), tzinfo=local.tzinfo)

    def _working_days_after(self, start: dt.date, days: int) -> dt.date:
        """The day `days` working days after `start`, walked once per day and count while the
        calendar holds the same days (a supervisor's dashboard asks it for two dozen change
        requests filed on a few days; the kept calendar serves every request of the process)."""
        key = (start, days)
        found = self._after.get(key)
        if found is not None:
            return found
        day = start
        self._cover(day, day + dt.timedelta(days=2 * days + 30))  # may reload: `_after` emptied
        counted = 0
        while counted < days:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        if len(self._after) < _AFTER_MOST:
            self._after[key] = day
        return day

    def shift(self, start: dt.datetime, seconds: int) -> dt.datetime:
        """The moment `seconds` of working time after `start` (the start of a working day on a boundary)."""
        if seconds <= 0:
            return start
        local = timezone.localtime(start)
        day = local.date()
        self._cover(day, day + dt.timedelta(days=2 * (seconds // DAY) + 30))
        into = local.hour * 3600 + local.minute * 60 + local.second
        remaining = seconds
        while True:
            if self.is_workday(day):
                available = DAY - into
                if remaining < available:
                    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=into + remaining)
                    return timezone.make_aware(naive.replace(microsecond=local.microsecond))
                remaining -= available
            day += dt.timedelta(days=1)
            into = 0


# The whole table (only holidays and adjusted working days: a few hundred rows) is kept in
# the cache shared by every process, so pages and the sweep read no calendar rows at all.
# Saving or deleting a day drops it (models.py signals; the seed after bulk inserts).
CACHE_KEY = "workcal:days:v1"
CACHE_SECONDS = 3600
# A token stored with the days each time they are stored: a process that has built a calendar
# from the days of that token uses it again while the token stays the same (issue 26: fetching
# and unpickling 800 days and building their prefix sums cost 0.8 ms a call, up to three
# calls a case page); reading the token is one short cache read.
STAMP_KEY = "workcal:days:v1:stamp"
_kept: tuple[str, WorkCalendar] | None = None


def _all_days() -> dict[dt.date, bool]:
    return _stored()[1]


def _stored() -> tuple[str | None, dict[dt.date, bool]]:
    """The days and their token from the shared cache (read from the database and stored when
    absent); the token is None when the cache did not hold or take them."""
    import uuid

    from django.core.cache import cache

    from .models import CalendarDay

    got = cache.get_many([CACHE_KEY, STAMP_KEY])
    days: dict[dt.date, bool] | None = got.get(CACHE_KEY)
    stamp: str | None = got.get(STAMP_KEY)
    if days is None or stamp is None:  # days without their token: read and store both afresh
        days = dict(CalendarDay.objects.values_list("date", "is_workday"))
        stamp = uuid.uuid4().hex
        cache.set_many({CACHE_KEY: days, STAMP_KEY: stamp}, CACHE_SECONDS)
    return stamp, days


def forget_days() -> None:
    """Drop the cached calendar now and again when the writing transaction commits (a reader
    between the two could otherwise cache the old days)."""
    from django.core.cache import cache
    from django.db import transaction

    cache.delete_many([CACHE_KEY, STAMP_KEY])
    transaction.on_commit(lambda: cache.delete_many([CACHE_KEY, STAMP_KEY]))


def calendar(lo: dt.date | None = None, hi: dt.date | None = None) -> WorkCalendar:
    """The database calendar, every day of it (from the shared cache; one query when it is cold).

    `lo` and `hi` say which days the caller needs; every day is there anyway. The calendar is
    read-only once built: the one this process built is used again while the cache's token
    for the days is the one it was built from.
    """
    global _kept
    from django.core.cache import cache

    kept = _kept
    if kept is not None and cache.get(STAMP_KEY) == kept[0]:
        return kept[1]
    stamp, days = _stored()
    cal = WorkCalendar(days, dt.date.min, dt.date.max, None)
    _kept = (stamp, cal) if stamp is not None else None
    return cal


# One calendar per rendered page: a list of 50 rows loads the holidays once, not 50 times.
_CACHE_ATTR = "_workcal_for_page"


def page_calendar(holder: Any = None, lo: dt.date | None = None, hi: dt.date | None = None) -> WorkCalendar:
    """The calendar kept on `holder` (the request) for the whole page: a year either side of today
    (and `lo`..`hi`), loaded with one query however many due times the page shows."""
    cal = getattr(holder, _CACHE_ATTR, None) if holder is not None else None
    if cal is None:
        today = timezone.localdate()
        lo = min(lo or today, today - dt.timedelta(days=366))
        hi = max(hi or today, today + dt.timedelta(days=366))
        cal = calendar(lo, hi)
        if holder is not None:
            setattr(holder, _CACHE_ATTR, cal)
    return cal


def sla_days(stage: str) -> int | None:
    """The stage's service level in working days: the administrator's value, else the default."""
    from .models import StageSLA

    days = StageSLA.objects.filter(stage=stage).values_list("days", flat=True).first()
    return days if days is not None else declaration.sla_defaults().get(stage)


def sla_map() -> dict[str, int]:
    from .models import StageSLA

    return {**declaration.sla_defaults(), **dict(StageSLA.objects.values_list("stage", "days"))}


def missing_schedule_years(*, today: dt.date | None = None) -> list[int]:
    """This year and next year, where nobody has entered the official schedule yet."""
    from .models import CalendarDay

    today = today or timezone.localdate()
    wanted = [today.year, today.year + 1]
    rows = CalendarDay.objects.filter(date__gte=dt.date(today.year, 1, 1), date__lt=dt.date(today.year + 2, 1, 1))
    known = {d.year for d in rows.dates("date", "year")}
    return [y for y in wanted if y not in known]
