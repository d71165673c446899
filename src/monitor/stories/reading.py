"""What detection reads from an article: its content sentences, fingerprint and term counts.

All of it is a pure function of the article's title and text, so it can be computed where the
page was extracted (an extraction worker process, see
:func:`monitor.pipeline.articles.extract_and_read`) and handed to
:func:`monitor.stories.ingest.ingest` with the article. Detection itself runs in order, one
article at a time; everything moved out of it here runs on the other cores.

A :class:`Reading` remembers the title, text length and settings it was computed from, and
:func:`reading_for` uses it only when they still match the article: a stale reading is
recomputed, never trusted. :mod:`monitor.models` carries a reading on its
:class:`~monitor.models.Article` as a :class:`~monitor.models.PrecomputedReading` and does not
import this module; the article is described here by what is read of it (:class:`Readable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.dedup import Fingerprint, fingerprint_cleaned
from monitor.detection_settings import DetectionSettings
from monitor.models import PrecomputedReading
from monitor.stories.cluster import term_counts
from monitor.text import (
    SentenceFeatures,
    content_sentences,
    sentence_features,
    with_title_fallback,
    without_printed_headline,
)

SettingsKey = tuple[int, int, float, float]


def settings_key(settings: DetectionSettings) -> SettingsKey:
    """The settings a reading depends on."""
    return (
        settings.minhash_permutations,
        settings.shingle_size,
        settings.title_weight,
        settings.entity_weight,
    )


class Readable(Protocol):
    """What a reading is computed from and checked against: an :class:`~monitor.models.Article`
    (title, text, and the reading the extraction worker computed, if any)."""

    @property
    def title(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def reading(self) -> PrecomputedReading | None: ...


@dataclass(frozen=True, slots=True)
class Reading:
    """An article's sentences (body content sentences, else the title), fingerprint and terms."""

    title: str
    text_chars: int
    key: SettingsKey
    sentences: tuple[str, ...]
    fingerprint: Fingerprint
    features: Mapping[str, SentenceFeatures]  # the title's and each sentence's
    counts: Mapping[str, float]  # term frequencies for story clustering

    def sentence(self, sentence: str) -> SentenceFeatures:
        """Features of ``sentence``: precomputed for the article's own sentences."""
        found = self.features.get(sentence)
        return found if found is not None else sentence_features(sentence)

    def fits(self, article: Readable, settings: DetectionSettings) -> bool:
        return (
            self.title == article.title
            and self.text_chars == len(article.text)
            and self.key == settings_key(settings)
        )


def read_article(title: str, text: str, settings: DetectionSettings) -> Reading:
    # Dedup fingerprints the cleaned body (the title when there is no body); clustering and
    # novelty read the body's content sentences (the title when there are none), without the
    # headline printed above them. One split serves both.
    body = text or title
    body_sentences = without_printed_headline(title, content_sentences(body))
    fingerprint = fingerprint_cleaned(
        "\n".join(body_sentences) or body,
        num_perm=settings.minhash_permutations,
        shingle_size=settings.shingle_size,
    )
    sentences = with_title_fallback(title, body_sentences if text else [])
    features = {s: sentence_features(s) for s in (title, *sentences)}
    counts = term_counts(title, sentences, settings, features=features.__getitem__)
    return Reading(
        title=title,
        text_chars=len(text),
        key=settings_key(settings),
        sentences=tuple(sentences),
        fingerprint=fingerprint,
        features=features,
        counts=counts,
    )


def reading_for(article: Readable, settings: DetectionSettings) -> Reading:
    """The article's precomputed reading when it fits, else a fresh one."""
    given = article.reading
    if isinstance(given, Reading) and given.fits(article, settings):
        return given
    return read_article(article.title, article.text, settings)
