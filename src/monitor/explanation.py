"""What ``monitor explain`` says about a placement decision, as lines of plain text.

:func:`placement_lines` reads a :class:`~monitor.decision.Decision` (the record stored with the
article) and returns the story choice, the thresholds, the salience verdict and each sentence's
novelty verdict, one line each, in the order the command prints them. The lines carry stored text
(sentences from the page) unescaped: the terminal escapes them for a terminal
(:func:`monitor.escaping.terminal_text`), the web view's templates for HTML.
"""

from __future__ import annotations

from monitor.decision import NEW_KINDS, ClusterRecord, Decision, SalienceRecord
from monitor.wording import counted

_SALIENCE_VERDICTS = {
    "first report": "development: the first report of a new story",
    "headline": "development: its headline says what the story had not reported",
    "lead": "development: it opens with sentences the story had not reported",
    "facts": "development: several new facts, with a new lead sentence and a partly new headline",
    "update": "development: the outlet's update adds sentences the story had not reported",
}


def _held_back(s: SalienceRecord) -> str:
    """Why a wording rule was held back (see monitor.stories.salience)."""
    if not s.new_signature:
        return "its headline and lead carry no name or figure the story's developments had not"
    return (
        "its new names and figures are not what it puts forward: none is in its headline and "
        "named again, and no headline word new to the story is stated in a novel sentence or "
        "said again in its lead"
    )


def salience_lines(s: SalienceRecord) -> list[str]:
    """Why the article was or was not news: headline and lead (see monitor.stories.salience)."""
    kind = s.kind + (f" ({'; '.join(s.kind_marks)})" if s.kind_marks else "")
    verdict = _SALIENCE_VERDICTS.get(
        s.rule or "", "report: it does not lead with news the story lacks"
    )
    lines = [
        f"kind: {kind}",
        f"headline: {s.headline_novelty} of its weight new to the story's headlines and leads, "
        f"{s.headline_unseen} never reported",
        f"lead: {counted(s.lead_novel, 'novel opening sentence')}; {s.novel} of {s.sentences} "
        "novel in all",
    ]
    if s.new_signature is not None:
        added = ", ".join(item.split(":", 1)[1] for item in s.new_signature) or "none"
        lines.append(f"names and figures new to the story's developments: {added}")
    if s.put_forward is not None:
        lines.append(f"put forward: {s.put_forward}")
    if s.overruled is not None and s.rule is None:
        verdict = f"report: the {s.overruled} rule found it new in wording, but {_held_back(s)}"
    elif s.overruled is not None:
        lines.append(f"held back: the {s.overruled} rule, as {_held_back(s)}")
    lines.append(f"salience: {verdict}")
    return lines


def placement_lines(record: Decision) -> list[str]:
    """The story choice, thresholds, salience and sentence verdicts of ``record``."""
    cluster = record.cluster or ClusterRecord(threshold=None)
    joined = "opened new story" if record.new_story else "joined story"
    lines = [f"{joined} {record.story_id} (threshold {cluster.threshold})"]
    lines.extend(
        f"  candidate story {c.story_id}: cosine {c.cosine} x decay {c.decay} "
        f"= {c.score} ({c.gap_hours} h since last article)"
        for c in cluster.candidates
    )
    lines.append(f"thresholds: {record.thresholds}")
    if record.salience is not None:
        lines.extend(salience_lines(record.salience))
    match_at = (record.thresholds or {}).get("sentence_match", 0.5)
    for s in record.novelty.sentences if record.novelty is not None else ():
        mark = "NEW " if s.novel else "seen" if s.similarity >= match_at else "    "
        lines.append(f"  [{mark}] {s.text[:120]}")
        why = []
        # Empty lists and unused matches are left out of the record (older records have them).
        if s.matched_article_id is not None:
            why.append(f"best match {s.similarity} in article {s.matched_article_id}")
        for key in NEW_KINDS:
            if s.new_of(key):
                why.append(f"{key.replace('_', ' ')}: {', '.join(s.new_of(key))}")
        if not s.novel and s.similarity < match_at:
            why.append("no new name, number, quote or event verb")
        if why:
            lines.append(f"         {'; '.join(why)}")
        if s.matched and s.similarity >= match_at:
            lines.append(f"         ~ {s.matched[:160]}")  # what it repeats
    return lines
