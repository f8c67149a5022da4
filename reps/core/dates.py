"""Date ranges in a gym's local days."""

import datetime
import zoneinfo


def as_date(value, name):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date like 2026-01-31, not {value!r}.")


def local_day_bounds(start_date, end_date, timezone_name):
    """[first instant of start_date, first instant after end_date) in the gym's zone.

    Both dates count whole local days, so both ends are inclusive.
    """
    start_date, end_date = as_date(start_date, "start_date"), as_date(end_date, "end_date")
    if start_date > end_date:
        raise ValueError(f"start_date {start_date} is after end_date {end_date}.")
    zone = zoneinfo.ZoneInfo(timezone_name)
    start = datetime.datetime.combine(start_date, datetime.time.min, zone)
    end = datetime.datetime.combine(end_date + datetime.timedelta(days=1), datetime.time.min, zone)
    return start, end


def wall_clock(moment: datetime.datetime, zone: datetime.tzinfo | None = None) -> str:
    """`moment` as a clock in `zone` shows it, with the zone's abbreviation: "2026-03-05 09:30 EST".

    Without a zone, in UTC, and labelled so: a time is never shown without saying whose clock it is.
    """
    local = moment.astimezone(zone or datetime.UTC)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
