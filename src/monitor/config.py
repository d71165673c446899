"""Settings and the monitor config file.

Two layers, both validated by pydantic:

* :class:`Settings` comes from the environment (``MONITOR_*``, nested groups with ``__``) and an
  optional ``.env`` file: where the database is, SMTP credentials, secrets, limits, thresholds.
  Build it with :func:`get_settings` and pass it down; nothing else reads the environment.
* :class:`MonitorConfig` is the user's YAML file: sources, topics and alert channels. Load it with
  :func:`load_config`; a wrong field raises :class:`~monitor.errors.ConfigError` naming the file,
  the field and what was expected.

The stages' own groups, detection thresholds (:mod:`monitor.detection_settings`) and alert
channels and delivery (:mod:`monitor.alert_settings`), are modules below this one that import no
stage package; config assembles them and the stages import them from there.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from monitor import DEFAULT_USER_AGENT
from monitor.alert_settings import ChannelConfig, DeliverySettings, TopicDelivery
from monitor.detection_settings import DetectionSettings
from monitor.errors import ConfigError
from monitor.models import Fallbacks
from monitor.targets import check_http_url
from monitor.wording import counted


class HttpSettings(BaseModel):
    """Limits of the shared HTTP client."""

    timeout_s: float = Field(20.0, gt=0, description="read/write/pool timeout per request")
    connect_timeout_s: float = Field(10.0, gt=0)
    total_timeout_s: float = Field(
        60.0, gt=0, description="deadline of one request in total: redirects and a dripped body"
    )
    max_connections: int = Field(16, ge=1, description="concurrent requests overall")
    max_per_host: int = Field(4, ge=1, description="concurrent requests to one host")
    max_bytes: int = Field(5_000_000, ge=1024, description="bodies past this are cut off")
    max_redirects: int = Field(5, ge=0)
    http2: bool = False
    retries: int = Field(1, ge=0, description="connection-level retries of a failed connect")
    max_retry_after_s: float = Field(
        3600.0, ge=0, description="longest Retry-After honoured (a host, a source left alone)"
    )
    host_delay_s: float = Field(
        0.0,
        ge=0,
        le=60,
        description="least gap between two requests to one host, shared by all its sources "
        "(plus up to half as much random jitter); a robots.txt Crawl-delay raises it per host",
    )
    max_crawl_delay_s: float = Field(
        30.0, ge=0, description="the longest robots.txt Crawl-delay honoured"
    )


class SmtpSettings(BaseModel):
    """Outgoing mail server. ``security``: none, starttls or ssl (implicit TLS)."""

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["none", "starttls", "ssl"] = "starttls"
    sender: str = "news-monitor@localhost"
    timeout_s: float = Field(30.0, gt=0, description="bound on a whole SMTP session")
    ca_file: Path | None = Field(None, description="CA bundle to verify the server with")


class ExtractionSettings(BaseModel):
    workers: int = Field(2, ge=0, description="extraction processes; 0 runs in-process")
    min_text_chars: int = Field(200, ge=0, description="shorter extractions fall back to summary")
    fallbacks: Fallbacks = Field(
        "as_needed",
        description="trafilatura's readability/jusText fallbacks: only for a page its fast mode "
        "cannot extract (as_needed), or compared on every page (always)",
    )
    batch_size: int = Field(
        128, ge=1, description="pages per fetch-extract and detect task (first and last: fewer)"
    )
    page_timeout_s: float = Field(
        30.0, gt=0, description="CPU seconds one page's extraction may use; then it is stopped"
    )
    page_wall_timeout_s: float = Field(
        120.0, gt=0, description="wall-clock limit of a page's extraction; the worker is replaced"
    )
    max_html_bytes: int = Field(
        2_000_000, ge=1024, description="larger pages are not extracted (kept as feed summary)"
    )
    memory_limit_mb: int = Field(
        2048, ge=0, description="address-space cap of each extraction process (0: none)"
    )
    max_text_chars: int = Field(
        200_000, ge=1000, description="stored text of one article is cut to this many characters"
    )


class BudgetSettings(BaseModel):
    """Wall-clock and size budgets of a cycle: a slow or huge source cannot hold up the others."""

    cycle_s: float = Field(
        600.0, gt=0, description="a cycle's pages are fetched within this long of the first one"
    )
    source_s: float = Field(
        180.0, gt=0, description="a source's pages, from the start of its first page request"
    )
    entries_per_poll: int = Field(
        200, ge=1, description="new entries taken per feed per poll (newest first; rest later)"
    )
    page_attempts: int = Field(
        5, ge=1, description="cycles a failing page or article is tried before it is parked"
    )


class FreshnessSettings(BaseModel):
    """Which new feed entries may alert (see :mod:`monitor.freshness`); off unless set."""

    max_entry_age_days: float = Field(
        0.0,
        ge=0,
        description="entries dated longer ago than this at first sight never alert; 0: off",
    )
    archive_entries: int = Field(
        100, ge=1, description="a poll with more new entries than this is an archive dump"
    )


class PollingSettings(BaseModel):
    """How often each source is polled (see :mod:`monitor.polling`). By default every source is
    polled every cycle; with many sources, adaptive polling reads each as often as it
    publishes."""

    adaptive: bool = Field(
        False,
        description="poll each source only when due by its own rhythm (half its usual interval "
        "between new entries); off: every source every cycle",
    )
    min_interval_s: float = Field(
        600.0, gt=0, description="adaptive polling: the shortest time between two polls"
    )
    max_interval_s: float = Field(
        86_400.0, gt=0, description="adaptive polling: the longest time between two polls"
    )
    backoff_max_s: float = Field(
        86_400.0, gt=0, description="the longest wait before polling a failing source again"
    )
    quiet_factor: float = Field(
        8.0, gt=1, description="a source is quiet after this many of its usual intervals"
    )
    quiet_min_hours: float = Field(
        48.0, ge=0, description="... and never before this many hours without a new entry"
    )
    poll_all: bool = Field(
        False,
        description="poll every source, due or not (what `monitor run --all` sets for a cycle)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> PollingSettings:
        if self.min_interval_s > self.max_interval_s:
            raise ValueError("min_interval_s exceeds max_interval_s")
        return self


class SitemapSettings(BaseModel):
    """How far a sitemap index is followed in one poll (see :mod:`monitor.discovery`)."""

    index_depth: int = Field(
        2, ge=1, le=5, description="levels of nested sitemap indexes read below a source's index"
    )
    children: int = Field(
        5, ge=1, le=100, description="sitemaps of an index fetched per poll, newest first"
    )
    skip_old: bool = Field(
        True,
        description="skip the sitemaps of an index, and the URLs of a sitemap, whose <lastmod> "
        "is older than the source's last poll whose entries were all dealt with (less the "
        "margin); undated ones are always read",
    )
    lastmod_margin_s: float = Field(
        3600.0,
        ge=0,
        description="how much older than that last poll a <lastmod> may be and still be read "
        "(publishers' clocks and late edits)",
    )


class WebSettings(BaseModel):
    """The web view and feeds (``monitor web``): access token, the address alerts link to, and
    who its feedback is recorded as."""

    token: SecretStr | None = Field(
        None,
        description="access token for the web view (bearer header, or ?token= once, then a "
        "cookie); required to bind anything but loopback",
    )
    base_url: str | None = Field(
        None,
        description="public address of the web view (https://monitor.example.org); alerts then "
        "link to their story page and feeds name themselves with it",
    )
    user: str = Field(
        "web",
        min_length=1,
        max_length=200,
        description="who the feedback given in the web view is recorded as (not my topic, "
        "mute, not new)",
    )
    link_secret: SecretStr | None = Field(
        None,
        description="secret signing the one-click 'not my topic' / 'not new' links of alerts; "
        "unset (or without base_url), alerts carry no action links",
    )
    link_days: int = Field(14, ge=1, le=365, description="how long an alert's action links work")

    @field_validator("link_secret")
    @classmethod
    def _strong_link_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("link_secret must be at least 16 characters")
        return value

    @field_validator("token")
    @classmethod
    def _no_empty_token(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty line in .env means "not set", never "the empty token".
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return check_http_url(value.strip()).rstrip("/")


# Polls failed in a row before a source is reported failing: an hour at a 15-minute schedule.
SOURCE_FAILING_AFTER = 4


class Settings(BaseSettings):
    """Environment-specific settings; see ``.env.example`` for every key."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Path("data")
    database_url: SecretStr | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file monitor.db in data_dir"
    )
    config_file: Path | None = None
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_network: bool = Field(
        False, description="allow fetching loopback/private addresses (demo and tests only)"
    )
    source_failing_after: int = Field(
        SOURCE_FAILING_AFTER,
        ge=1,
        description="failed polls in a row before a source is reported failing (once)",
    )
    webhook_secret: SecretStr | None = None
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="named secrets referenced from the config file"
    )
    http: HttpSettings = Field(default_factory=HttpSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    extraction: ExtractionSettings = Field(default_factory=ExtractionSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    freshness: FreshnessSettings = Field(default_factory=FreshnessSettings)
    polling: PollingSettings = Field(default_factory=PollingSettings)
    sitemaps: SitemapSettings = Field(default_factory=SitemapSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    web: WebSettings = Field(default_factory=WebSettings)

    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'monitor.db').resolve()}"


# MONITOR_* names read by the test suite, not by the monitor: not reported as unknown.
TEST_SUITE_VARIABLES = frozenset(
    {"MONITOR_TEST_POSTGRES_URL", "MONITOR_REQUIRE_POSTGRES", "MONITOR_REQUIRE_BROWSER"}
)


def _names(model: type[BaseModel], prefix: str) -> tuple[set[str], set[str]]:
    """Every environment name of ``model``'s fields, and the prefixes of free-form groups
    (``MONITOR_SECRETS__*``)."""
    names: set[str] = set()
    open_prefixes: set[str] = set()
    for field_name, info in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        names.add(name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            inner, inner_open = _names(annotation, f"{name}__")
            names |= inner
            open_prefixes |= inner_open
        elif getattr(annotation, "__origin__", None) is dict:
            open_prefixes.add(f"{name}__")
    return names, open_prefixes


def known_setting_names() -> tuple[frozenset[str], frozenset[str]]:
    """The ``MONITOR_*`` names :class:`Settings` reads, and the prefixes under which any name
    is read (named secrets)."""
    names, open_prefixes = _names(Settings, "MONITOR_")
    return frozenset(names | TEST_SUITE_VARIABLES), frozenset(open_prefixes)


def unknown_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> list[str]:
    """One message per ``MONITOR_*`` name in ``environ`` or in ``env_file`` that no setting
    reads (a misspelt setting is otherwise silently ignored), with the nearest known name."""
    known, open_prefixes = known_setting_names()
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        for key in dotenv_values(env_file):
            found.setdefault(key.upper(), f"{env_file}: {key}")
    for key in environ:
        found[key.upper()] = f"environment variable {key}"
    messages = []
    for name, where in sorted(found.items()):
        if not name.startswith("MONITOR_") or name in known:
            continue
        if any(name.startswith(p) and len(name) > len(p) for p in open_prefixes):
            continue
        close = difflib.get_close_matches(name, sorted(known - TEST_SUITE_VARIABLES), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        messages.append(f"{where} is not a setting and is ignored{hint}")
    return messages


def polling_all(settings: Settings) -> Settings:
    """``settings`` for a cycle that polls every source, due or not (``monitor run --all``)."""
    polling = settings.polling.model_copy(update={"poll_all": True})
    return settings.model_copy(update={"polling": polling})


def get_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and ``.env``; keyword overrides win.

    A value that does not validate is a :class:`ConfigError` of one line naming each bad
    setting by its environment variable (``MONITOR_HTTP__MAX_BYTES``), what it expects and,
    unless it is a secret, what it got.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("; ".join(_setting_problem(e) for e in exc.errors())) from exc
    except SettingsError as exc:  # a group given as one variable, not as JSON
        raise ConfigError(_unparsed_group(exc)) from exc


# Settings whose values an error does not show.
_SECRET_WORDS = ("secret", "password", "token", "key", "database_url")


def _setting_problem(error: ErrorDetails) -> str:
    name = _environment_name(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith("Input should be "):
        # "Input should be a valid integer, unable to parse string as an integer": the first
        # clause says what is expected, the rest repeats it.
        expected = message.removeprefix("Input should be ").split(", ")[0]
        number = "a number " if expected.startswith(("greater", "less")) else ""
        message = f"expected {number}{expected}"
    got = error.get("input")
    secret = any(word in name.lower() for word in _SECRET_WORDS)
    shown = "" if secret or isinstance(got, dict | list) else f", got {got!r}"
    return f"{name}: {message}{shown}"


def _environment_name(loc: tuple[int | str, ...]) -> str:
    """The ``MONITOR_*`` variable of a field of :class:`Settings` at pydantic's ``loc``."""
    model: Any = Settings
    names: list[str] = []
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if fields is None:  # a free-form group's key (MONITOR_SECRETS__NAME), or a union's tag
            if getattr(model, "__origin__", None) is dict and isinstance(part, str):
                names.append(part)
            break
        if part not in fields:
            continue
        names.append(str(part))
        model = fields[part].annotation
    return "MONITOR_" + "__".join(n.upper() for n in names)


def _unparsed_group(exc: SettingsError) -> str:
    # pydantic-settings names the field only in its message.
    found = re.search(r'field "([^"]+)"', str(exc))
    if found is None:
        return f"environment settings: {exc}"
    name = f"MONITOR_{found.group(1).upper()}"
    return f"{name}: expected JSON, or each of its settings on its own as {name}__<NAME>"


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    url: str = Field(
        description="RSS 2.0, Atom or JSON Feed URL, an XML sitemap or sitemap index, or a "
        "site's home or section page (its feed is found and remembered)"
    )
    enabled: bool = True
    follow_updates: bool = Field(
        False,
        description="read an entry again when the feed marks it updated (Atom <updated>, "
        "JSON Feed date_modified); new facts in the update alert like any development",
    )
    robots: Literal["obey", "ignore"] = Field(
        "obey",
        description="obey the host's robots.txt (feed and pages), or ignore it (the outlet "
        "agreed to be monitored); shown by `monitor sources`",
    )
    kind: Literal["feed", "page"] = Field(
        "feed",
        description="feed: the URL is a feed or sitemap, or a page whose feed is found; page: "
        "a section page whose article links are read (no feed looked for); shown by "
        "`monitor sources`",
    )

    @field_validator("url")
    @classmethod
    def _fetchable(cls, value: str) -> str:
        return check_http_url(value)


class TopicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    query: str = Field(min_length=1, description='e.g. istanbul AND (talks OR "peace deal")')
    title_only: bool = False
    relevance: Literal["anywhere", "prominent", "strict"] = Field(
        "prominent",
        description=(
            "prominent: the match must rest on at least one term in the title, the lead (first "
            "60 words) or repeated in the body; strict: every term must be; anywhere: one "
            "mention in passing counts (body:term does that for one term)"
        ),
    )
    channels: list[str] | None = Field(None, description="channel names; default: all channels")
    delivery: TopicDelivery = Field(default_factory=TopicDelivery)
    min_new_facts: int = Field(
        1,
        ge=1,
        le=50,
        description=(
            "alert on a later development of a story only when it brings at least this many "
            "new facts; the first alert of each story is always sent"
        ),
    )

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        from monitor.errors import QueryError
        from monitor.topics import parse_query

        try:
            parse_query(value)
        except QueryError as exc:  # pydantic reports ValueError with the topic's field path
            raise ValueError(str(exc)) from exc
        return value


class MonitorConfig(BaseModel):
    """The user's config file: what to watch, what to look for, where to send alerts."""

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(default_factory=list)
    topics: list[TopicConfig] = Field(default_factory=list)
    channels: list[Annotated[ChannelConfig, Field(discriminator="type")]] = Field(
        default_factory=list
    )

    @field_validator("sources", "topics", "channels")
    @classmethod
    def _unique_names(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                raise ValueError(f"duplicate name {item.name!r}")
            seen.add(item.name)
        return items

    @model_validator(mode="after")
    def _known_channels(self) -> MonitorConfig:
        known = {c.name for c in self.channels}
        for topic in self.topics:
            for name in topic.channels or ():
                if name not in known:
                    raise ValueError(
                        f"topic {topic.name!r}: unknown channel {name!r} "
                        f"(known: {', '.join(sorted(known)) or 'none'})"
                    )
        return self

    def channels_for(self, topic: TopicConfig) -> list[ChannelConfig]:
        if topic.channels is None:
            return list(self.channels)
        wanted = set(topic.channels)
        return [c for c in self.channels if c.name in wanted]


def settings_problems(config: MonitorConfig, settings: Settings) -> list[str]:
    """What the config asks that the settings cannot give (each a sentence for the user)."""
    cap = settings.detection.max_facts
    return [
        f"topic {t.name!r}: min_new_facts {t.min_new_facts} exceeds "
        f"MONITOR_DETECTION__MAX_FACTS {cap} (a development keeps at most {cap} facts, so the "
        "topic would never alert on a later development); lower min_new_facts or raise "
        "MONITOR_DETECTION__MAX_FACTS"
        for t in config.topics
        if t.min_new_facts > cap
    ]


def _format_validation_error(origin: str, exc: ValidationError) -> str:
    lines = [f"{origin}: {counted(exc.error_count(), 'invalid field')}"]
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
        hint = _meant(err["loc"]) if err["type"] == "extra_forbidden" else ""
        lines.append(f"  {loc}: {err['msg']}{shown}{hint}")
    return "\n".join(lines)


def _meant(loc: tuple[int | str, ...]) -> str:
    """``; did you mean 'key'?`` for an unknown key of the config file at ``loc``, naming the
    closest key the same place knows, if one is close."""
    known = sorted({name for model in _models_at(loc[:-1]) for name in model.model_fields})
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _models_at(loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The models the mapping at ``loc`` of the config file may be (several for a channel
    whose type pydantic could not tell)."""
    models: list[type[BaseModel]] = [MonitorConfig]
    for part in loc:
        if isinstance(part, int):  # an item of a list: the same models
            continue
        inner = [m.model_fields[part].annotation for m in models if part in m.model_fields]
        if inner:
            models = [found for annotation in inner for found in _models_in(annotation)]
        else:  # a tagged union's tag: the channel whose type it is
            models = [m for m in models if get_args(_type_field(m)) == (part,)] or models
    return models


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models inside a field's type (``list[X]``, ``X | None``, ``Annotated[A | B, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [found for arg in get_args(annotation) for found in _models_in(arg)]


def _type_field(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    return field.annotation if field is not None else None


def parse_config(data: Any, *, origin: str = "config") -> MonitorConfig:
    """Validate an already-loaded mapping (used by tests and by :func:`load_config`)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return MonitorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(origin, exc)) from exc


def config_path(given: Path | str | None, settings: Settings) -> Path:
    """The config file to read: the one given (``--config``), else ``MONITOR_CONFIG_FILE``."""
    path = Path(given) if given else settings.config_file
    if path is None:
        raise ConfigError("no config file: pass --config or set MONITOR_CONFIG_FILE")
    return path


def load_config(path: Path) -> MonitorConfig:
    """Read and validate a YAML config file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark some editors write is allowed
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save the config file as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    return parse_config(data, origin=str(path))
