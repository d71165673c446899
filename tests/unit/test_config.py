"""Settings and config-file validation: errors name the file, the field and what was expected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.config import Settings, get_settings, load_config, parse_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
sources:
  - {name: Example, url: "https://news.example.org/rss.xml"}
topics:
  - name: Istanbul talks
    query: 'istanbul AND (talks OR "peace deal")'
    channels: [desk]
channels:
  - {type: email, name: desk, to: [desk@example.org]}
  - {type: webhook, name: hook, url: "https://hooks.example.org/x"}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert [s.name for s in config.sources] == ["Example"]
    topic = config.topics[0]
    assert [c.name for c in config.channels_for(topic)] == ["desk"]


def test_wrong_field_names_file_field_and_expectation(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace('url: "https://news', 'url: "ftp://news'))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "sources.0.url" in message
    assert "http:// or https://" in message
    assert "ftp://" in message


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"topics\.0\.qurey"):
        load_config(_write(tmp_path, GOOD.replace("    query:", "    qurey:")))


TYPOS = [
    ("    query:", "    qurey:", "topics.0.qurey", "query"),
    ("  - {name: Example, url:", "  - {name: Example, ulr:", "sources.0.ulr", "url"),
    ("sources:", "source:", "source", "sources"),
    ("    channels: [desk]", "    chanels: [desk]", "topics.0.chanels", "channels"),
    ('name: hook, url: "', 'name: hook, urll: "', "channels.1.webhook.urll", "url"),
    ("to: [desk@example.org]", "too: [desk@example.org]", "channels.0.email.too", "to"),
]


@pytest.mark.parametrize(("good", "typo", "where", "meant"), TYPOS)
def test_an_unknown_key_says_which_key_was_meant(
    tmp_path: Path, good: str, typo: str, where: str, meant: str
) -> None:
    assert good in GOOD
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, GOOD.replace(good, typo, 1)))
    assert f"{where}: " in str(err.value)
    assert f"did you mean {meant!r}?" in str(err.value)


def test_an_unknown_key_like_no_known_one_has_no_guess(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, GOOD.replace("    query:", "    zzzzzz: 1\n    query:")))
    assert "topics.0.zzzzzz" in str(err.value)
    assert "did you mean" not in str(err.value)


def test_malformed_query_points_at_topic(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("(talks OR", "(talks OR OR"))
    with pytest.raises(ConfigError, match=r"topics\.0\.query"):
        load_config(path)


def test_min_new_facts_is_checked_and_defaults_to_one(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, GOOD)).topics[0].min_new_facts == 1
    stricter = GOOD.replace("    channels: [desk]", "    channels: [desk]\n    min_new_facts: 2")
    assert load_config(_write(tmp_path, stricter)).topics[0].min_new_facts == 2
    with pytest.raises(ConfigError, match=r"topics\.0\.min_new_facts"):
        load_config(_write(tmp_path, stricter.replace("min_new_facts: 2", "min_new_facts: 0")))


def test_unknown_channel_in_topic(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown channel 'nope'"):
        load_config(_write(tmp_path, GOOD.replace("channels: [desk]", "channels: [nope]")))


def test_duplicate_names_rejected() -> None:
    data = {"sources": [{"name": "a", "url": "https://a.example"}] * 2}
    with pytest.raises(ConfigError, match="duplicate name 'a'"):
        parse_config(data)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "sources: [unclosed"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MONITOR_SMTP__PORT", "2525")
    monkeypatch.setenv("MONITOR_SMTP__PASSWORD", "hunter2")
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path))
    settings = get_settings(_env_file=None)
    assert settings.smtp.port == 2525
    assert "hunter2" not in repr(settings)
    assert settings.resolved_database_url() == f"sqlite:///{(tmp_path / 'monitor.db').resolve()}"


def test_link_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_WEB__LINK_SECRET", "s3cret-of-twenty-chars")
    monkeypatch.setenv("MONITOR_WEB__LINK_DAYS", "3")
    settings = get_settings(_env_file=None)
    assert settings.web.link_secret is not None
    assert settings.web.link_secret.get_secret_value() == "s3cret-of-twenty-chars"
    assert settings.web.link_days == 3
    assert "s3cret" not in repr(settings)
    monkeypatch.setenv("MONITOR_WEB__LINK_SECRET", "")
    monkeypatch.delenv("MONITOR_WEB__LINK_DAYS")
    defaults = get_settings(_env_file=None)
    assert (defaults.web.link_secret, defaults.web.link_days) == (None, 14)
    monkeypatch.setenv("MONITOR_WEB__LINK_SECRET", "short")
    with pytest.raises(ConfigError, match="16 characters"):
        get_settings(_env_file=None)


def test_bad_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SMTP__PORT", "not-a-port")
    with pytest.raises(ConfigError, match="MONITOR_SMTP__PORT"):
        get_settings(_env_file=None)


BAD_SETTINGS = [
    ("MONITOR_HTTP__MAX_BYTES", "abc", "integer"),
    ("MONITOR_SOURCE_FAILING_AFTER", "0", "greater than or equal to 1"),
    ("MONITOR_EXTRACTION__WORKERS", "-1", "greater than or equal to 0"),
    ("MONITOR_ALLOW_PRIVATE_NETWORK", "maybe", "boolean"),
    ("MONITOR_POLLING__ADAPTIVE", "perhaps", "boolean"),
    ("MONITOR_HTTP", "not json", "JSON"),
    ("MONITOR_SECRETS", "not json", "JSON"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD_SETTINGS)
def test_a_bad_setting_is_one_line_naming_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        get_settings(_env_file=None)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: expected ")
    assert expected in message
    assert repr(value) in message or "JSON" in expected
    # The internal path of the field is not what the user set.
    assert "." not in message.split(":")[0]


def test_a_bad_secret_setting_does_not_show_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_WEB__LINK_SECRET", "hunter2")
    with pytest.raises(ConfigError) as err:
        get_settings(_env_file=None)
    assert str(err.value).startswith("MONITOR_WEB__LINK_SECRET: ")
    assert "16 characters" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_several_bad_settings_are_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_HTTP__MAX_BYTES", "abc")
    monkeypatch.setenv("MONITOR_SMTP__PORT", "x")
    with pytest.raises(ConfigError) as err:
        get_settings(_env_file=None)
    message = str(err.value)
    assert "\n" not in message
    assert "MONITOR_HTTP__MAX_BYTES: expected" in message
    assert "MONITOR_SMTP__PORT: expected" in message


def _leaf_keys(model: type[BaseModel], prefix: str) -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += _leaf_keys(ann, f"{prefix}{name.upper()}__")
        else:
            keys.append(f"{prefix}{name.upper()}")
    return keys


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*(MONITOR_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    missing = [
        k
        for k in _leaf_keys(Settings, "MONITOR_")
        if k not in documented and not k.startswith("MONITOR_SECRETS")
    ]
    assert not missing, f".env.example lacks {missing}"
    assert "MONITOR_SECRETS__" in text
