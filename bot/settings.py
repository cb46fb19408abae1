"""One settings object, read from the environment once by the composition root and passed in."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


_PLACEHOLDERS = {"changeme", "change-me", "xxx", "todo", "your-token-here", "secret"}


def _secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value.lower() in _PLACEHOLDERS:
        raise SettingsError(f"{name} is a placeholder ({value!r}); set the real value or unset it")
    return value


def _allow_list(raw: str) -> tuple[str, ...]:
    entries = tuple(part.strip() for part in raw.split(",") if part.strip())
    for entry in entries:
        if "/" in entry:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise SettingsError(f"SELLERDESK_FETCH_ALLOW: {entry!r} is not a host or CIDR") from exc
    return entries


def _bounded(
    env: Mapping[str, str], name: str, default: N, low: N, high: N, parse: Callable[[str], N], what: str
) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be {what}, not {raw!r}") from exc
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _bounded(env, name, default, low, high, int, "a whole number")


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _bounded(env, name, default, low, high, float, "a number of seconds")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///sellerdesk.db"
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_client_id: str = ""
    slack_client_secret: str = field(default="", repr=False)
    slack_api_url: str = "https://slack.com/api/"
    escalation_channel: str = ""
    fetch_allow: tuple[str, ...] = ()
    fetch_total_seconds: float = 30.0  # one picture fetch, DNS to last byte, redirects included
    port: int = 3000
    data_dir: str = "sellerdesk-data"
    order_sync_minutes: int = 30
    # Background tasks go to this broker (Redis) for workers on any machine; empty: in-process.
    broker_url: str = field(default="", repr=False)  # may carry a password
    # A worker silent this long is taken for dead and its unfinished tasks go to another worker.
    worker_heartbeat_seconds: int = 30

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate; raises `SettingsError` naming the variable that is wrong."""
        database_url = env.get("DATABASE_URL", "").strip() or cls.database_url
        if database_url.startswith("postgresql://"):
            # The project ships psycopg 3; SQLAlchemy's bare postgresql:// means psycopg2.
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        api_url = env.get("SLACK_API_URL", "").strip() or cls.slack_api_url
        if not api_url.startswith(("http://", "https://")):
            raise SettingsError(f"SLACK_API_URL must be an http(s) URL, not {api_url!r}")
        if not api_url.endswith("/"):
            api_url += "/"
        client_id = env.get("SLACK_CLIENT_ID", "").strip()
        client_secret = _secret(env, "SLACK_CLIENT_SECRET")
        if bool(client_id) != bool(client_secret):
            raise SettingsError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must be set together")
        broker_url = env.get("SELLERDESK_BROKER_URL", "").strip()
        if broker_url and not broker_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("SELLERDESK_BROKER_URL must be a Redis URL (redis://host:6379/0), or unset")
        return cls(
            database_url=database_url,
            slack_bot_token=_secret(env, "SLACK_BOT_TOKEN"),
            slack_signing_secret=_secret(env, "SLACK_SIGNING_SECRET"),
            slack_app_token=_secret(env, "SLACK_APP_TOKEN"),
            slack_client_id=client_id,
            slack_client_secret=client_secret,
            slack_api_url=api_url,
            escalation_channel=env.get("SELLERDESK_ESCALATION_CHANNEL", "").strip(),
            fetch_allow=_allow_list(env.get("SELLERDESK_FETCH_ALLOW", "")),
            fetch_total_seconds=_seconds(env, "SELLERDESK_FETCH_TOTAL_SECONDS", 30.0, 0.5, 600.0),
            port=_int(env, "PORT", 3000, 1, 65535),
            data_dir=env.get("SELLERDESK_DATA_DIR", "").strip() or cls.data_dir,
            order_sync_minutes=_int(env, "SELLERDESK_ORDER_SYNC_MINUTES", 30, 1, 1440),
            broker_url=broker_url,
            worker_heartbeat_seconds=_int(env, "SELLERDESK_WORKER_HEARTBEAT_SECONDS", 30, 2, 3600),
        )
