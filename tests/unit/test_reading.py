"""Detection's reading of an article: computed once (in a worker), trusted only while it fits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from monitor.detection_settings import DetectionSettings
from monitor.models import Article, ExtractedPage, FeedEntry
from monitor.pipeline.articles import build_article, extract_and_read
from monitor.pipeline.collect import FetchedPage, PageJob
from monitor.stories.cluster import term_counts
from monitor.stories.reading import read_article, reading_for
from monitor.text import content_sentences

NOW = datetime(2031, 5, 4, 8, 0, tzinfo=UTC)
SETTINGS = DetectionSettings()
TITLE = "Quarry blast shakes Orrinford"
TEXT = (
    "A blast at the Orrinford quarry shook houses across the valley on Monday morning.\n"
    "Site manager Petra Lund said 12 workers were evacuated and nobody was hurt.\n"
    "Inspectors from the Mines Board will visit the site on 9 May, the council said.\n"
    "Subscribe to our newsletter"
)


def _article(title: str = TITLE, text: str = TEXT) -> Article:
    return Article(
        source="Valley Post",
        url="https://post.test/quarry",
        canonical_url="https://post.test/quarry",
        title=title,
        text=text,
        fetched_at=NOW,
    )


def test_a_reading_holds_what_ingest_would_compute() -> None:
    reading = read_article(TITLE, TEXT, SETTINGS)
    sentences = content_sentences(TEXT)
    assert list(reading.sentences) == sentences
    assert "Subscribe to our newsletter" not in reading.sentences  # page furniture left out
    assert reading.counts == term_counts(TITLE, sentences, SETTINGS)
    assert set(reading.features) == {TITLE, *sentences}
    assert reading.sentence(sentences[1]).numbers == frozenset({"12"})


def test_a_headline_printed_above_the_text_is_not_read_as_its_first_sentence() -> None:
    # Sentence case, as many outlets write headlines: the splitter keeps it as a sentence.
    title = "Quarry blast shakes houses in Orrinford, 12 workers evacuated"
    printed = read_article(title, f"{title}\n{TEXT}", SETTINGS)
    plain = read_article(title, TEXT, SETTINGS)

    assert printed.sentences == plain.sentences
    assert printed.fingerprint.content_hash == plain.fingerprint.content_hash
    assert printed.fingerprint.to_bytes() == plain.fingerprint.to_bytes()
    assert printed.counts == plain.counts
    # A lead sentence that says more than the headline stays.
    lead = "Quarry blast shakes houses in Orrinford, where 12 workers at the Lund site fled dust."
    assert read_article(title, f"{lead}\n{TEXT}", SETTINGS).sentences[0] == lead


def test_a_body_without_content_sentences_falls_back_to_the_title() -> None:
    reading = read_article(TITLE, "Subscribe to our newsletter", SETTINGS)
    assert reading.sentences == (TITLE,)


def test_a_fitting_reading_is_used_and_a_stale_one_is_recomputed() -> None:
    reading = read_article(TITLE, TEXT, SETTINGS)
    article = replace(_article(), reading=reading)
    assert reading_for(article, SETTINGS) is reading

    retitled = replace(article, title="Quarry blast: inspectors called in")
    fresh = reading_for(retitled, SETTINGS)
    assert fresh is not reading
    assert fresh.title == retitled.title

    shorter = replace(article, text=TEXT.split("\n")[0])
    assert reading_for(shorter, SETTINGS).sentences == (TEXT.split("\n")[0],)

    other = SETTINGS.model_copy(update={"shingle_size": 3})
    assert reading_for(article, other) is not reading
    assert (
        reading_for(article, other).fingerprint.shingle_count != reading.fingerprint.shingle_count
    )


def test_extraction_workers_attach_a_reading_that_fits_the_built_article() -> None:
    html = (
        f"<html><head><title>{TITLE}</title></head><body><article><h1>{TITLE}</h1>"
        + "".join(f"<p>{line}</p>" for line in TEXT.split("\n")[:3])
        + "</article></body></html>"
    ).encode()
    page = extract_and_read(html, "https://post.test/quarry", min_text_chars=50, settings=SETTINGS)
    assert page is not None
    assert page.reading is not None
    job = PageJob(
        1,
        "Valley Post",
        FeedEntry("https://post.test/quarry", title="Feed title"),
        "https://post.test/quarry",
    )
    article = build_article(FetchedPage(job, html, "https://post.test/quarry"), page, NOW)
    assert article.reading is page.reading
    assert reading_for(article, SETTINGS) is page.reading

    # The page had no title of its own: the article takes the feed's, and the reading is redone.
    untitled = replace(page, title="")
    article = build_article(FetchedPage(job, html, "https://post.test/quarry"), untitled, NOW)
    assert article.title == "Feed title"
    assert reading_for(article, SETTINGS) is not page.reading


def test_extract_and_read_gives_nothing_for_an_unusable_page() -> None:
    assert (
        extract_and_read(b"", "https://post.test/x", min_text_chars=50, settings=SETTINGS) is None
    )
    assert isinstance(
        extract_and_read(
            b"<html><body><article><p>"
            + b"Enough words here to count. " * 20
            + b"</p></article></body></html>",
            "https://post.test/y",
            min_text_chars=50,
            settings=SETTINGS,
        ),
        ExtractedPage,
    )


def test_a_reading_survives_the_trip_from_an_extraction_worker() -> None:
    import pickle

    reading = read_article(TITLE, TEXT, SETTINGS)
    copy = pickle.loads(pickle.dumps(reading))
    assert copy.sentences == reading.sentences
    assert copy.counts == reading.counts
    assert copy.fingerprint.content_hash == reading.fingerprint.content_hash
    assert list(copy.fingerprint.signature) == list(reading.fingerprint.signature)
    for sentence, features in reading.features.items():
        assert copy.features[sentence] == features
        assert copy.features[sentence].name_terms == features.name_terms
