"""The pure placement decision (no database): which story, development or repeat, duplicate.

The story context is built here as :func:`monitor.stories.placement.load_context` would load it:
document frequencies from the articles "stored" before, a candidate story whose centroid and
memory come from an earlier article.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from monitor.decision import Decision
from monitor.dedup import fingerprint
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.storage.detection import StoredSentence, StoredStory
from monitor.stories.cluster import tfidf_vector
from monitor.stories.ingest import near_duplicate
from monitor.stories.placement import (
    MAX_FACT_CHARS,
    StoryContext,
    StoryPlan,
    choose_story,
    decide,
    query_terms,
)
from monitor.stories.reading import Reading, reading_for
from monitor.stories.salience import headline_terms

SETTINGS = DetectionSettings()
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
STORY_ID = 7
EARLIER_ID = 3

FERRY = (
    "The harbour authority of Port Velmora suspended the night ferry to Island Caro on Monday. "
    "Inspectors found corrosion on the hull of the ferry Marisol during a routine check. "
    "The authority said the crossing would stay closed until the repairs were finished. "
    "Travellers were offered seats on the morning boat instead, the operator said."
)
FERRY_AGAIN = (
    "The night ferry from Port Velmora to Island Caro has been suspended, the harbour authority "
    "said on Monday. Inspectors found corrosion on the hull of the ferry Marisol during a "
    "routine check. The crossing stays closed until the repairs are finished, the authority said."
)
FERRY_NEWS = (
    "The harbour authority of Port Velmora suspended the night ferry to Island Caro on Monday. "
    "Inspectors found corrosion on the hull of the ferry Marisol during a routine check. "
    "On Wednesday the shipyard of Dornholm said the repairs would cost 4.2 million crowns. "
    "Minister Edda Lunvik ordered an inquiry into the inspection records of the whole fleet."
)
ORCHARD = (
    "Beekeepers in the Tallis valley reported an unusually early bloom in the apple orchards. "
    "The cooperative of Tallis said hives were moved two weeks ahead of the usual calendar. "
    "Growers expect a large harvest if no late frost arrives in the valley this spring."
)


def article(text: str, title: str, *, n: int = 1, revision_of: int | None = None) -> Article:
    return Article(
        source=f"outlet{n}",
        url=f"https://news{n}.example/{n}",
        canonical_url=f"https://news{n}.example/{n}",
        title=title,
        text=text,
        fetched_at=NOW,
        published_at=NOW,
        revision_of=revision_of,
    )


def remembered(read: Reading, article_id: int) -> tuple[StoredSentence, ...]:
    return tuple(
        StoredSentence(i, article_id, s, " ".join(sorted(read.sentence(s).terms)))
        for i, s in enumerate(read.sentences)
    )


def context(new: Article, earlier: Sequence[Article], *, story_of: int | None) -> StoryContext:
    """The context ``new`` would load with ``earlier`` stored, and a story made of the article
    ``earlier[story_of]`` (or no candidate story)."""
    reads = [reading_for(a, SETTINGS) for a in earlier]
    df = Counter(t for r in reads for t in r.counts)
    read = reading_for(new, SETTINGS)
    terms = tuple(sorted(read.counts, key=lambda t: -read.counts[t])[: SETTINGS.max_df_terms])
    vector = tfidf_vector(read.counts, df, len(reads))
    candidates: tuple[StoredStory, ...] = ()
    stored: tuple[StoredSentence, ...] = ()
    names: dict[str, list[str]] = {}
    if story_of is not None:
        base = reads[story_of]
        centroid = tfidf_vector(base.counts, df, len(reads))
        last = NOW - timedelta(hours=2)
        candidates = (
            StoredStory(STORY_ID, last, 1, ["outlet0"], {"centroid": centroid, "members": 1}),
        )
        stored = remembered(base, EARLIER_ID)
        features = [base.sentence(s) for s in base.sentences]
        names = {
            "entities": sorted({e for f in features for e in f.entities}),
            "numbers": sorted({x for f in features for x in f.numbers}),
            "headlines": sorted(
                headline_terms(
                    base.sentence(base.title).terms,
                    [f.terms for f in features[: SETTINGS.lead_sentences]],
                )
            ),
        }
    choice = choose_story(vector, candidates, NOW, SETTINGS, own_story=new.revision_of is not None)
    query = query_terms(new, read, vector, SETTINGS)
    return StoryContext(terms, df, len(reads), vector, query, candidates, choice, names, stored)


def place(new: Article, earlier: Sequence[Article], *, story_of: int | None) -> StoryPlan:
    header = Decision(content_hash="h", shingles=10, revision_of=new.revision_of)
    ctx = context(new, earlier, story_of=story_of)
    return decide(new, reading_for(new, SETTINGS), ctx, NOW, SETTINGS, header)


def test_an_article_unlike_any_story_opens_a_new_story_as_its_first_development() -> None:
    new = article(ORCHARD, "Early bloom in the Tallis valley", n=2)
    plan = place(new, [article(FERRY, "Night ferry suspended", n=0), new], story_of=0)

    assert plan.new_story
    assert plan.is_development
    assert plan.write.story_id is None
    assert plan.write.headline == "Early bloom in the Tallis valley"
    assert plan.write.facts == plan.novel_sentences
    assert plan.novel_sentences[0].startswith("Beekeepers in the Tallis valley")
    assert plan.write.article_count == 1
    assert plan.write.outlets == ["outlet2"]
    d = plan.decision
    assert (d.outcome, d.new_story, d.content_hash) == ("development", True, "h")
    assert d.cluster is not None
    assert d.cluster.threshold == SETTINGS.story_threshold
    assert [c.story_id for c in d.cluster.candidates] == [STORY_ID]
    assert d.cluster.candidates[0].score < SETTINGS.story_threshold


def test_an_article_on_the_same_event_joins_the_story_and_repeats_its_development() -> None:
    earlier = article(FERRY, "Night ferry to Island Caro suspended", n=0)
    new = article(FERRY_AGAIN, "Island Caro night ferry suspended after inspection", n=1)
    plan = place(new, [earlier, new], story_of=0)

    assert not plan.new_story
    assert plan.write.story_id == STORY_ID
    assert plan.write.headline is None
    assert plan.write.article_count == 2
    assert plan.write.outlets == ["outlet0", "outlet1"]
    assert plan.decision.cluster is not None
    assert plan.decision.cluster.candidates[0].score >= SETTINGS.story_threshold
    # Nothing new: filed as a report of the development of the article it repeats.
    assert not plan.is_development
    assert plan.decision.outcome == "report"
    assert plan.write.facts is None
    assert plan.write.repeats_article_id == EARLIER_ID
    assert plan.write.repeat_similarity > SETTINGS.sentence_match_threshold
    assert plan.novel_sentences == ()
    # Its sentences follow the story's remembered ones.
    assert plan.write.sentences[0].position == len(reading_for(earlier, SETTINGS).sentences)


def test_an_article_whose_headline_carries_new_facts_is_a_development() -> None:
    earlier = article(FERRY, "Night ferry to Island Caro suspended", n=0)
    new = article(FERRY_NEWS, "Minister Lunvik orders inquiry after Island Caro ferry halt", n=1)
    plan = place(new, [earlier, new], story_of=0)

    assert not plan.new_story
    assert plan.write.story_id == STORY_ID
    assert plan.is_development
    assert plan.decision.outcome == "development"
    salience = plan.decision.salience
    assert salience is not None
    assert salience.rule == "headline"
    assert salience.headline_novelty >= SETTINGS.headline_novelty
    assert any("4.2 million crowns" in s for s in plan.novel_sentences)
    assert any("Edda Lunvik" in s for s in plan.novel_sentences)
    assert not any(s.startswith("Inspectors found corrosion") for s in plan.novel_sentences)
    novelty = plan.decision.novelty
    assert novelty is not None
    assert novelty.is_development
    seen = [s for s in novelty.sentences if not s.novel]
    assert seen
    assert all(s.matched_article_id == EARLIER_ID for s in seen)


def test_new_facts_the_article_does_not_lead_with_make_a_report() -> None:
    # The same new facts, under a headline that retells the story and after a lead that
    # repeats it: the article is another report, its novel sentences recorded but not news.
    earlier = article(FERRY, "Night ferry to Island Caro suspended", n=0)
    new = article(FERRY_NEWS, "Island Caro night ferry stays suspended", n=1)
    plan = place(new, [earlier, new], story_of=0)

    assert not plan.new_story
    assert not plan.is_development
    assert plan.decision.outcome == "report"
    assert plan.novel_sentences == ()
    novelty = plan.decision.novelty
    assert novelty is not None
    assert any(s.novel and "Edda Lunvik" in s.text for s in novelty.sentences)
    salience = plan.decision.salience
    assert salience is not None
    assert salience.rule is None
    assert salience.lead_novel < SETTINGS.lead_novel_sentences
    assert salience.headline_novelty < SETTINGS.headline_novelty


def test_a_new_version_stays_in_its_original_story_whatever_the_score() -> None:
    earlier = article(FERRY, "Night ferry to Island Caro suspended", n=0)
    # An update whose text shares nothing with the story: scored below the threshold.
    new = article(ORCHARD, "Update", n=0, revision_of=EARLIER_ID)
    plan = place(new, [earlier, new], story_of=0)

    assert plan.decision.cluster is not None
    assert plan.decision.cluster.candidates[0].score < SETTINGS.story_threshold
    assert plan.write.story_id == STORY_ID
    assert not plan.new_story
    assert plan.decision.revision_of == EARLIER_ID


def test_near_duplicate_names_the_original_a_copy_contains() -> None:
    original = fingerprint(FERRY)
    copy = fingerprint(FERRY + " Update: the operator apologised.")
    other = fingerprint(ORCHARD)
    rows = [(11, other.to_bytes(), 3), (12, original.to_bytes(), 40)]

    found = near_duplicate(copy, rows, SETTINGS)

    assert found is not None
    best, checked = found
    assert best.article_id == 12
    assert best.containment >= SETTINGS.near_duplicate_threshold
    assert [c.article_id for c in checked] == [11, 12]
    assert checked[0].containment < SETTINGS.near_duplicate_threshold
    assert near_duplicate(other, [(12, original.to_bytes(), 40)], SETTINGS) is None


def test_a_runaway_sentence_is_quoted_shortened_never_whole() -> None:
    # A page whose opening "sentence" runs for thousands of characters (no full stop, as a
    # hostile or broken page sends it): the alert quotes a bounded excerpt of it.
    runaway = "Beekeepers in the Tallis valley reported " + "an unusually early bloom " * 400
    new = article(runaway.strip() + ". " + ORCHARD, "Early bloom in the Tallis valley", n=2)
    plan = place(new, [article(FERRY, "Night ferry suspended", n=0), new], story_of=0)

    assert plan.new_story
    assert plan.is_development
    facts = plan.write.facts
    assert facts
    assert all(len(fact) <= MAX_FACT_CHARS for fact in facts)
    assert facts[0].startswith("Beekeepers in the Tallis valley reported an unusually early")
    assert facts[0].endswith("\u2026")
