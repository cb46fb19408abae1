"""When the scheduled jobs run, as APScheduler triggers.

The same triggers answer a seller's "when is the next report import?" (no scheduler needs to run
in that process) and drive `python app.py scheduler`. Interval jobs are anchored at midnight of
1 January 2000 in the schedule's time zone, so every process computes the same run times
(order sync every 30 minutes runs at :00 and :30) whenever it started.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

JOBS = ("report_import", "image_grab", "order_sync", "purge_deleted", "follow_ups")
"""Every scheduled job, by the name the bot and the logs use."""

REPORT_IMPORT_HOUR = 2  # nightly, after the platforms generate the day's reports
IMAGE_GRAB_HOUR = 3  # after the report import, so rule (c) sees the day's orders
FOLLOW_UP_MINUTES = 5
_EPSILON = timedelta(microseconds=1)


class JobSchedule:
    """The schedule of the background jobs.

    Args:
        order_sync_minutes: minutes between automatic order syncs.
        timezone: IANA time zone name the nightly times are in.

    Raises:
        ValueError: the interval is not positive or the time zone is unknown.
    """

    def __init__(self, order_sync_minutes: int = 30, timezone: str = "UTC") -> None:
        if order_sync_minutes < 1:
            raise ValueError("order_sync_minutes must be at least 1")
        try:
            self.timezone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {timezone!r}") from exc
        self.order_sync_minutes = order_sync_minutes
        anchor = datetime(2000, 1, 1, tzinfo=self.timezone)
        self._triggers: dict[str, BaseTrigger] = {
            "report_import": CronTrigger(hour=REPORT_IMPORT_HOUR, minute=0, timezone=self.timezone),
            "image_grab": CronTrigger(hour=IMAGE_GRAB_HOUR, minute=0, timezone=self.timezone),
            "order_sync": IntervalTrigger(
                minutes=order_sync_minutes, start_date=anchor, timezone=self.timezone
            ),
            "purge_deleted": IntervalTrigger(hours=1, start_date=anchor, timezone=self.timezone),
            "follow_ups": IntervalTrigger(
                minutes=FOLLOW_UP_MINUTES, start_date=anchor, timezone=self.timezone
            ),
        }

    def next_run(self, job: str, after: datetime | None = None) -> datetime | None:
        """The next run of `job` strictly after `after` (now by default).

        Args:
            job: one of `JOBS`.
            after: the moment to look from; a naive datetime is taken as UTC.

        Returns:
            The run time in the schedule's time zone, or None for a job that is not scheduled.
        """
        trigger = self._triggers.get(job)
        if trigger is None:
            return None
        moment = after or datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # APScheduler answers `now` itself when `now` is exactly a run time; a run that is starting
        # at this instant is not the next one, so look from just after it.
        fire: datetime | None = trigger.get_next_fire_time(None, moment + _EPSILON)
        return fire

    def triggers(self) -> dict[str, BaseTrigger]:
        """The trigger of every job, to register with a scheduler."""
        return dict(self._triggers)
