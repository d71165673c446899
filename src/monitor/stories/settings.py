"""Thresholds and weights of dedup, clustering and novelty detection (``MONITOR_DETECTION__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DetectionSettings(BaseModel):
    near_duplicate_threshold: float = Field(
        0.8, ge=0, le=1, description="containment above which an article is a near-duplicate"
    )
