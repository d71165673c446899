"""Secret settings may name Prefect Secret blocks (``prefect-secret:NAME``)."""

from __future__ import annotations

import pytest
from flows.secrets import resolve_secret_blocks
from pydantic import SecretStr

from monitor.config import get_settings
from monitor.errors import ConfigError

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_block_values_replace_references_and_plain_values_stay() -> None:
    from prefect.blocks.system import Secret

    Secret(value="smtp-pass-from-block").save("monitor-smtp-password", overwrite=True)
    Secret(value="slack://a/b/c").save("monitor-slack-url", overwrite=True)
    settings = get_settings(
        _env_file=None,
        smtp={"password": "prefect-secret:monitor-smtp-password"},
        secrets={"slack": "prefect-secret:monitor-slack-url", "plain": "kept-as-is"},
        webhook_secret=SecretStr("inline-secret"),
    )
    resolved = resolve_secret_blocks(settings)
    assert resolved.smtp.password is not None
    assert resolved.smtp.password.get_secret_value() == "smtp-pass-from-block"
    assert resolved.secrets["slack"].get_secret_value() == "slack://a/b/c"
    assert resolved.secrets["plain"].get_secret_value() == "kept-as-is"
    assert resolved.webhook_secret is not None
    assert resolved.webhook_secret.get_secret_value() == "inline-secret"
    assert "smtp-pass-from-block" not in repr(resolved)


def test_a_missing_block_is_a_config_error_naming_the_setting() -> None:
    settings = get_settings(_env_file=None, webhook_secret="prefect-secret:no-such-block")
    with pytest.raises(ConfigError, match=r"webhook_secret: no Prefect Secret block"):
        resolve_secret_blocks(settings)
