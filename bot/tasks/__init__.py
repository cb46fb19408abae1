"""Background tasks: the slow work behind Slack answers and the scheduled jobs, as named tasks.

The web process acknowledges Slack and hands the slow part to a `TaskRunner`: in-process (the
embedded default, no broker) or a broker (Redis, through Dramatiq) that workers on any number of
machines consume with `python app.py worker`. Every task is idempotent and may run more than once
(at-least-once delivery): syncs and imports hold a per-store lock and upsert, and a Slack answer
journals what it posted so a retry never posts it twice.
"""
