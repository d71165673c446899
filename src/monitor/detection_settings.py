"""Thresholds and weights of dedup, clustering and novelty detection (``MONITOR_DETECTION__*``).

Defaults are chosen from first principles and checked on a labelled development stream with
``monitor eval stream``; each field says what it trades off.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class DetectionSettings(BaseModel):
    # --- duplicates -------------------------------------------------------------------------
    near_duplicate_threshold: float = Field(
        0.8,
        ge=0,
        le=1,
        description="estimated share of the new text's 5-grams found in an earlier article above "
        "which it is a near-duplicate of that article",
    )
    minhash_permutations: int = Field(128, ge=16, le=1024, description="MinHash signature length")
    lsh_bands: int = Field(
        64,
        ge=1,
        description="LSH bands (permutations / bands rows each): more bands find lower-Jaccard "
        "pairs (short excerpts of long texts) at the cost of more index rows",
    )
    shingle_size: int = Field(5, ge=1, le=12, description="words per shingle")
    near_duplicate_candidates: int = Field(
        20, ge=1, description="band-sharing articles verified per lookup (most shared bands first)"
    )

    # --- story clustering -------------------------------------------------------------------
    story_threshold: float = Field(
        0.15,
        ge=0,
        le=1,
        description="decayed TF-IDF cosine between an article and a story centroid needed to join",
    )
    story_half_life_hours: float = Field(
        72.0, gt=0, description="time for the recency part of the story score to halve"
    )
    story_decay_floor: float = Field(
        0.6,
        ge=0,
        le=1,
        description="share of the lexical score kept however cold the story: a very close match "
        "can revive an old story, a vague one cannot",
    )
    story_active_days: float = Field(
        60.0,
        gt=0,
        description="stories untouched for longer are not candidates (bounds the candidate index)",
    )
    title_weight: float = Field(2.0, ge=0, description="term-frequency weight of title words")
    entity_weight: float = Field(1.5, ge=0, description="extra weight of capitalised names")
    story_terms: int = Field(60, ge=5, description="top centroid terms indexed per story")
    centroid_terms: int = Field(150, ge=10, description="terms kept in a story centroid")
    query_terms: int = Field(25, ge=3, description="top article terms used to find candidates")
    story_candidates: int = Field(20, ge=1, description="candidate stories scored per article")
    postings_per_term: int = Field(
        50, ge=1, description="strongest stories read per query term from the story_terms index"
    )
    max_df_terms: int = Field(
        300, ge=10, description="distinct terms per article counted in document frequencies"
    )

    # --- new developments -------------------------------------------------------------------
    sentence_match_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="IDF-weighted share of a sentence's terms found in one earlier story sentence "
        "above which the sentence counts as already reported",
    )
    quote_match_threshold: float = Field(
        0.6, ge=0, le=1, description="the same for a quotation against earlier story sentences"
    )
    event_verb_match_threshold: float = Field(
        0.35,
        ge=0,
        le=1,
        description="a sentence whose only new information is an event verb is novel only below "
        "this similarity to earlier story sentences (rewrites swap verbs)",
    )
    min_novel_sentences: int = Field(
        1, ge=1, description="novel informative sentences needed for a development"
    )
    headline_novelty: float = Field(
        0.3,
        ge=0,
        le=1,
        description="IDF-weighted share of a headline's terms unused by the story's earlier "
        "headlines and leads from which the headline is news (see monitor.stories.salience)",
    )
    headline_unseen: float = Field(
        0.25,
        ge=0,
        le=1,
        description="and the share the story never reported anywhere: a headline built from a "
        "detail of earlier bodies retells earlier reporting",
    )
    lead_sentences: int = Field(
        3, ge=1, description="first content sentences of an article that form its lead"
    )
    lead_novel_sentences: int = Field(
        3, ge=1, description="novel lead sentences that make an article a development"
    )
    several_new_facts: int = Field(
        4,
        ge=1,
        description="novel sentences that make a development of an article with a novel lead "
        "sentence and a partly new headline (several new facts)",
    )
    fact_signature: bool = Field(
        True,
        description="an article whose headline and lead name no one and cite no figure the "
        "story's developments have not carried is a report, however new its wording "
        "(see monitor.stories.signature)",
    )
    put_forward: bool = Field(
        True,
        description="the headline and several-facts rules make news only of an article that "
        "puts a new fact forward: a new name or figure in its headline that its text names "
        "again, or a headline word the story never used stated in a novel sentence or said "
        "again in the lead (see monitor.stories.salience)",
    )
    put_forward_mentions: int = Field(
        2,
        ge=1,
        description="sentences that must name a headline's new name or figure again for the "
        "article to put it forward",
    )
    signature_lead_sentences: int = Field(
        2,
        ge=1,
        description="first content sentences whose names and figures join the headline's in an "
        "article's fact signature: the lead paragraph, where news style states the news",
    )
    max_facts: int = Field(8, ge=1, description="novel sentences kept as a development's facts")
    story_sentence_memory: int = Field(
        800, ge=50, description="most recent story sentences kept for novelty comparison"
    )

    @model_validator(mode="after")
    def _bands_divide(self) -> DetectionSettings:
        if self.minhash_permutations % self.lsh_bands:
            raise ValueError("minhash_permutations must be a multiple of lsh_bands")
        return self
