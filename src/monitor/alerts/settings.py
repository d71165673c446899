"""Alert channels (config file) and delivery settings (``MONITOR_DELIVERY__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DeliverySettings(BaseModel):
    max_attempts: int = Field(8, ge=1, description="after this many failures a delivery is dead")


class TopicDelivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["immediate", "digest"] = "immediate"


class EmailChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["email"]
    name: str = Field(min_length=1)
    to: list[str] = Field(min_length=1)


class WebhookChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"]
    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    secret: str | None = Field(None, description="name in settings.secrets; default webhook_secret")


class AppriseChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["apprise"]
    name: str = Field(min_length=1)
    url_secret: str = Field(description="name in settings.secrets holding the apprise URL")


ChannelConfig = EmailChannel | WebhookChannel | AppriseChannel
