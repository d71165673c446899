"""Config validated up front, through real config files and the real command line: URLs checked as
the sender uses them, recipients, referenced secrets, the file's encoding, unknown ``MONITOR_*``
names; ``monitor run`` exits 2 with one message before Prefect is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_config
from monitor.errors import ConfigError

HEAD = """
sources:
  - {name: Ledger, url: "https://ledger.example/rss.xml"}
topics:
  - {name: Strike, query: strike}
"""


def _write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in list(os.environ):
        if key.startswith("MONITOR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


BAD_URLS = [
    ("http://hooks.example.org:99999/news", "out of range"),
    ("http://hooks.example.org:0/news", "out of range"),
    ("http://[::1/news", "IPv6"),
    ("http://[::zz]/news", "IPv4 or IPv6"),
    ("http://[1.2.3.4]/news", "in brackets"),
    ("http://xn--zz--.example/news", "IDNA"),
    ("http://xn--ls8h.example/news", "IDNA"),
    ("http://\u2603.example/news", "IDNA"),
    ("http://hooks..example.org/news", "host name"),
    ("http://-hooks.example.org/news", "host name"),
    ("http://hooks.example.org\r\nX: y/news", "control character"),
    ("http://hooks example.org/news", "space"),
    ("ftp://hooks.example.org/news", "http:// or https://"),
    ("https:///news", "no host"),
]


@pytest.mark.parametrize(("url", "why"), BAD_URLS)
def test_a_webhook_url_no_request_can_go_to_is_a_config_error(
    tmp_path: Path, url: str, why: str
) -> None:
    path = _write(
        tmp_path,
        HEAD + f"channels:\n  - {{type: webhook, name: ops, url: {json.dumps(url)}}}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "channels.0.webhook.url" in message
    assert why in message


@pytest.mark.parametrize(("url", "why"), BAD_URLS)
def test_a_source_url_no_request_can_go_to_is_a_config_error(
    tmp_path: Path, url: str, why: str
) -> None:
    path = _write(tmp_path, f"sources:\n  - {{name: Bad, url: {json.dumps(url)}}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "sources.0.url" in str(err.value)
    assert why in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/news?token=abc",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:8080/hook",
        "https://b\u00fccher.example/hook",  # IDNA, as httpx sends it
        "https://xn--bcher-kva.example/hook",
        "http://internal_receiver.corp:9000/hook",
    ],
)
def test_urls_a_request_can_go_to_are_accepted(tmp_path: Path, url: str) -> None:
    path = _write(
        tmp_path,
        HEAD + f"channels:\n  - {{type: webhook, name: ops, url: {json.dumps(url)}}}\n",
    )
    assert load_config(path).channels[0].url == url  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "recipient",
    [
        "desk@example.org\r\nBcc: all@example.org",
        "desk@example.org\n",
        "desk@exa\x00mple.org",
        "Desk <desk@example.org>",
        "desk@@example.org",
        "desk",
        "desk@example.org, ops@example.org",
        "desk@example.org\u2028",
    ],
)
def test_a_recipient_that_is_not_one_address_is_a_config_error(
    tmp_path: Path, recipient: str
) -> None:
    path = _write(
        tmp_path,
        HEAD + f"channels:\n  - {{type: email, name: desk, to: [{json.dumps(recipient)}]}}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "channels.0.email.to" in str(err.value)


def test_a_config_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_bytes((HEAD + "# r\u00e9sum\u00e9 des sources\n").encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "not UTF-8" in str(err.value)
    assert "line 6" in str(err.value)


def _monitor(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real command line, in a child process that reports whether it imported Prefect."""
    script = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"sys.argv = ['monitor', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print('prefect imported:', 'prefect' in sys.modules, file=sys.stderr)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return {**base, "MONITOR_DATA_DIR": str(tmp_path / "data"), **extra}


CONFIG_ERRORS = {
    "latin-1": None,  # written below as bytes
    "yaml": HEAD + "channels: [\n",
    "field": HEAD + "channels:\n  - {type: webhook, name: ops, url: 'http://h.example:99999/'}\n",
    "recipient": HEAD
    + 'channels:\n  - {type: email, name: d, to: ["a@example.org\\r\\nBcc: x"]}\n',  # CR LF
    "secret": HEAD + "channels:\n  - {type: apprise, name: chat, url_secret: chat_url}\n",
    # More facts than a development keeps (MONITOR_DETECTION__MAX_FACTS, 8): never alerts again.
    "min_new_facts": HEAD.replace("query: strike}", "query: strike, min_new_facts: 12}"),
}


@pytest.mark.parametrize("kind", sorted(CONFIG_ERRORS))
def test_run_with_a_config_error_exits_2_with_one_message_before_prefect_starts(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "monitor.yaml"
    text = CONFIG_ERRORS[kind]
    if text is None:
        path.write_bytes((HEAD + "# caf\u00e9\n").encode("latin-1"))
    else:
        path.write_text(text, encoding="utf-8")

    done = _monitor(["run", "--config", str(path)], tmp_path, _child_env(tmp_path))

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "prefect imported: False"
    error = "\n".join(lines[:-1])  # one message: the file, then the field(s) if any
    assert error.startswith(f"error: {path}")
    assert len(lines[:-1]) <= 2, error
    if kind == "secret":
        assert "MONITOR_SECRETS__CHAT_URL" in error


def test_run_warns_of_a_misspelt_setting_with_the_nearest_name(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "channels:\n  - {type: apprise, name: c, url_secret: nope}\n")
    env = _child_env(tmp_path, MONITOR_ALLOW_PRIVATE_NETWORKS="true")

    done = _monitor(["run", "--config", str(path)], tmp_path, env)

    assert "warning: environment variable MONITOR_ALLOW_PRIVATE_NETWORKS is not a setting" in (
        done.stderr
    )
    assert "did you mean MONITOR_ALLOW_PRIVATE_NETWORK?" in done.stderr


def test_check_fails_on_a_missing_secret_and_an_unusable_apprise_url(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        env,
        "topics:\n  - {name: Strike, query: strike}\n"
        "channels:\n"
        "  - {type: apprise, name: chat, url_secret: chat_url}\n"
        "  - {type: apprise, name: pager, url_secret: pager_url}\n"
        "  - {type: apprise, name: team, url_secret: team_url}\n"
        "  - {type: webhook, name: ops, url: 'https://hooks.example.org/x', secret: ops_key}\n",
    )
    monkeypatch.setenv("MONITOR_SECRETS__PAGER_URL", "nosuchservice://token-123")
    monkeypatch.setenv("MONITOR_SECRETS__TEAM_URL", "json://hooks.example.org:99999/hook")

    result = CliRunner().invoke(app, ["check", "--config", str(path)])

    assert result.exit_code == 1, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line[:7] == "channel"}
    assert "FAILED" in lines["chat"]
    assert "MONITOR_SECRETS__CHAT_URL" in lines["chat"]
    assert "FAILED" in lines["pager"]
    assert "apprise does not understand" in lines["pager"]
    assert "token-123" not in result.output  # the URL is a secret
    assert "FAILED" in lines["team"]
    assert "port 99999 is out of range" in lines["team"]
    assert "FAILED" in lines["ops"]
    assert "MONITOR_SECRETS__OPS_KEY" in lines["ops"]


def test_check_passes_when_every_secret_is_set(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(
        env,
        "topics:\n  - {name: Strike, query: strike}\n"
        "channels:\n  - {type: apprise, name: chat, url_secret: chat_url}\n",
    )
    monkeypatch.setenv("MONITOR_SECRETS__CHAT_URL", "json://hooks.example.org/x")
    result = CliRunner().invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "channel  chat" in result.output


def test_check_fails_on_unknown_settings_in_the_environment_and_in_dotenv(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(env, "topics:\n  - {name: Strike, query: strike}\n")
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("MONITOR_SECRETS__ANYTHING", "named secrets are free-form")
    (env / ".env").write_text(
        "MONITOR_SMTP__HOTS=mail.example.org\nMONITOR_DELIVERY__MAX_ATTEMPTS=3\nOTHER=1\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(app, ["check", "--config", str(path)])

    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("setting")]
    assert len(failed) == 2, result.output
    assert any(
        "MONITOR_ALLOW_PRIVATE_NETWORKS" in line
        and "did you mean MONITOR_ALLOW_PRIVATE_NETWORK?" in line
        for line in failed
    )
    assert any(
        ".env: MONITOR_SMTP__HOTS" in line and "did you mean MONITOR_SMTP__HOST?" in line
        for line in failed
    )


def test_every_documented_setting_is_known() -> None:
    """The names .env.example documents are all read: none would be reported."""
    from monitor.config import unknown_settings

    example = Path(__file__).resolve().parents[2] / ".env.example"
    assert unknown_settings({}, example) == []


def test_min_new_facts_above_what_a_development_keeps_is_refused_until_settings_allow_it(
    tmp_path: Path,
) -> None:
    from monitor.config import Settings, settings_problems

    config = load_config(_write(tmp_path, CONFIG_ERRORS["min_new_facts"]))

    problems = settings_problems(config, Settings(_env_file=None))
    assert len(problems) == 1
    assert "'Strike'" in problems[0]
    assert "MONITOR_DETECTION__MAX_FACTS 8" in problems[0]
    assert settings_problems(config, Settings(_env_file=None, detection={"max_facts": 12})) == []


@pytest.mark.parametrize("command", [["articles"], ["run", "--config", "monitor.yaml"]])
def test_a_bad_setting_is_one_line_naming_its_variable_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    _write(tmp_path, HEAD)
    env = _child_env(tmp_path, MONITOR_HTTP__MAX_BYTES="abc")
    done = _monitor(command, tmp_path, env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    error, prefect = done.stderr.strip().splitlines()
    assert error == "error: MONITOR_HTTP__MAX_BYTES: expected a valid integer, got 'abc'"
    assert prefect == "prefect imported: False"
