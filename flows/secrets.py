"""Secrets kept in Prefect Secret blocks.

Any secret setting (``MONITOR_SMTP__PASSWORD``, ``MONITOR_WEBHOOK_SECRET``,
``MONITOR_DATABASE_URL``, ``MONITOR_SECRETS__*``) may name a block instead of holding the value:
``prefect-secret:BLOCK-NAME``. The flow swaps in the block's value before the core sees the
settings, so credentials can live in the Prefect server rather than in workers' environments.
"""

from __future__ import annotations

from pydantic import SecretStr

from monitor.config import Settings, get_settings
from monitor.errors import ConfigError

PREFIX = "prefect-secret:"


def _resolve(value: SecretStr | None, setting: str) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value()
    if not raw.startswith(PREFIX):
        return value
    from prefect.blocks.system import Secret

    name = raw.removeprefix(PREFIX)
    try:
        block = Secret.load(name)
    except ValueError as exc:  # Prefect's "unable to find block document"
        raise ConfigError(f"{setting}: no Prefect Secret block named {name!r}") from exc
    return SecretStr(str(block.get()))


def _secret_values(settings: Settings) -> list[SecretStr | None]:
    return [
        settings.smtp.password,
        settings.webhook_secret,
        settings.database_url,
        *settings.secrets.values(),
    ]


def uses_secret_blocks(settings: Settings) -> bool:
    """Whether any secret setting names a Prefect Secret block (only Prefect can read it)."""
    return any(
        value is not None and value.get_secret_value().startswith(PREFIX)
        for value in _secret_values(settings)
    )


def resolve_secret_blocks(settings: Settings) -> Settings:
    """Settings with every ``prefect-secret:NAME`` value replaced by the block's value."""
    smtp = settings.smtp.model_copy(
        update={"password": _resolve(settings.smtp.password, "smtp.password")}
    )
    secrets = {
        key: _resolve(value, f"secrets.{key}") or value for key, value in settings.secrets.items()
    }
    return settings.model_copy(
        update={
            "smtp": smtp,
            "secrets": secrets,
            "webhook_secret": _resolve(settings.webhook_secret, "webhook_secret"),
            "database_url": _resolve(settings.database_url, "database_url"),
        }
    )


def flow_settings(database_url: str | None = None) -> Settings:
    """A flow run's settings: the environment's, the ``database_url`` parameter over the
    environment's when given, Secret blocks swapped in."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    return resolve_secret_blocks(settings)
