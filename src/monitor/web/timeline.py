"""The story page's picture: articles by outlet (one row each) over time (x), as SVG geometry.

:func:`story_timeline` turns a :class:`~monitor.web.views.StoryView` into marks with their
coordinates; the template draws them. One mark per article: a development is a filled circle,
another outlet's report of a development a filled square, any other report a hollow circle and an
exact or near copy a small cross. No external asset, no script.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.web.views import StoryView

WIDTH = 760
LEFT = 150  # outlet names
RIGHT = 20
ROW = 28
TOP = 20
BOTTOM = 30


@dataclass(frozen=True, slots=True)
class Mark:
    x: float
    y: float
    role: str  # development / report / other / duplicate
    article_id: int
    label: str  # outlet, time and title, shown as the mark's <title>


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: int
    rows: tuple[tuple[str, float], ...]  # (outlet, y)
    marks: tuple[Mark, ...]
    start: str  # time at the left edge
    end: str  # time at the right edge
    left: int
    right: int


def story_timeline(story: StoryView) -> Timeline:
    outlets = list(dict.fromkeys(a.source for a in story.articles))
    y_of = {o: TOP + ROW * i + ROW / 2 for i, o in enumerate(outlets)}
    times = [a.at for a in story.articles]
    t0 = min(times) if times else story.first_seen_at
    t1 = max(times) if times else story.last_seen_at
    span = (t1 - t0).total_seconds()
    usable = WIDTH - LEFT - RIGHT

    def x_of(seconds: float) -> float:
        return round(LEFT + (usable * seconds / span if span > 0 else usable / 2), 1)

    marks = tuple(
        Mark(
            x=x_of((a.at - t0).total_seconds()),
            y=y_of[a.source],
            role=a.role,
            article_id=a.id,
            label=f"{a.source}, {a.at:%Y-%m-%d %H:%M} UTC: {a.title} ({a.role})",
        )
        for a in story.articles
    )
    return Timeline(
        width=WIDTH,
        height=TOP + ROW * max(len(outlets), 1) + BOTTOM,
        rows=tuple((o, y_of[o]) for o in outlets),
        marks=marks,
        start=f"{t0:%Y-%m-%d %H:%M}",
        end=f"{t1:%Y-%m-%d %H:%M} UTC",
        left=LEFT,
        right=WIDTH - RIGHT,
    )
