"""The job schedule: next run times of each job, in UTC and in a seller's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from erp.jobs.schedule import JOBS, JobSchedule


def at(hour: int, minute: int = 0, second: int = 0, day: int = 26) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("job", "after", "expected"),
    [
        ("report_import", at(17, 5), at(2, day=27)),
        ("report_import", at(1, 59, 59), at(2)),
        ("report_import", at(2), at(2, day=27)),  # the run starting now is not the next one
        ("image_grab", at(2, 30), at(3)),
        ("image_grab", at(3, 0, 1), at(3, day=27)),
        ("order_sync", at(17, 5), at(17, 30)),
        ("order_sync", at(17, 30), at(18)),
        ("order_sync", at(23, 45), at(0, day=27)),
        ("purge_deleted", at(17, 5), at(18)),
        ("follow_ups", at(17, 6), at(17, 10)),
    ],
)
def test_next_run_in_utc(job: str, after: datetime, expected: datetime) -> None:
    assert JobSchedule().next_run(job, after) == expected


def test_order_sync_interval_is_configurable_and_the_same_in_every_process() -> None:
    schedule = JobSchedule(order_sync_minutes=7)
    first = schedule.next_run("order_sync", at(17, 5))
    assert first is not None
    assert schedule.next_run("order_sync", first) == first + timedelta(minutes=7)
    assert JobSchedule(order_sync_minutes=7).next_run("order_sync", at(17, 5)) == first


def test_nightly_jobs_follow_the_schedule_time_zone() -> None:
    shanghai = JobSchedule(timezone="Asia/Shanghai")
    # 17:05 UTC is 01:05 in Shanghai: the import runs at 02:00 local, 18:00 UTC.
    next_import = shanghai.next_run("report_import", at(17, 5))
    assert next_import == datetime(2026, 11, 27, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert next_import == at(18)


def test_naive_moments_are_utc_and_unknown_jobs_have_no_run() -> None:
    schedule = JobSchedule()
    assert schedule.next_run("order_sync", datetime(2026, 11, 26, 17, 5)) == at(17, 30)
    assert schedule.next_run("no_such_job", at(17)) is None


def test_default_is_after_now() -> None:
    before = datetime.now(UTC)
    for job in JOBS:
        upcoming = JobSchedule().next_run(job)
        assert upcoming is not None and before < upcoming <= before + timedelta(days=1, seconds=1)


def test_triggers_cover_every_job() -> None:
    assert set(JobSchedule().triggers()) == set(JOBS)


@pytest.mark.parametrize(("minutes", "zone"), [(0, "UTC"), (30, "Mars/Olympus")])
def test_bad_settings_are_refused(minutes: int, zone: str) -> None:
    with pytest.raises(ValueError):
        JobSchedule(order_sync_minutes=minutes, timezone=zone)
