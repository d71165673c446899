"""Text features shared by dedup, story clustering and novelty detection.

Pure functions from strings to values; nothing here touches the database or the network.

Contract:

* :func:`normalise` gives the canonical form used for the content hash: NFKC, typographic quotes and
  dashes folded, lower case, whitespace collapsed. Two texts differing only in those are equal.
* :func:`content_sentences` splits an article body into sentences and drops page furniture
  (headings, captions and photo credits, "read more", share/subscribe lines, bylines, very short
  fragments). It is the only boilerplate filter: deliberately conservative, it removes lines whose
  form gives them away and never judges content.
* :func:`words`, :func:`stem`, :func:`content_terms` give the lexical units of TF-IDF and
  sentence similarity; :func:`entities`, :func:`numbers` and :func:`quotes` are the cheap stand-in
  for named-entity recognition that novelty detection relies on.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
import re
import unicodedata
from dataclasses import dataclass

_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)

_WORD = re.compile(r"[^\W_]+(?:['\-.][^\W_]+)*", re.UNICODE)
_SPACE = re.compile(r"\s+")

# Function words: never terms, never entities on their own (a sentence-initial "The" is not a name).
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself said says say told according
    new one two many much may might must shall since still yet per via amid among upon within
    without across around however although though whether despite like mr mrs ms dr st
    monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow week
    year years day days time times last first next just even well way back get got make made
    meanwhile moreover furthermore additionally separately earlier later instead overall finally
    indeed nonetheless nevertheless elsewhere currently recently already yes oh thanks
    """
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
# Function words for similarity, but a day named in a headline can be its news ("talks set for
# Friday"): see monitor.stories.salience.
WEEKDAYS = frozenset(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))

_MONTHS_TEXT = """
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    """
MONTHS = frozenset(_MONTHS_TEXT.split())

# Verbs that report that something happened: a sentence naming someone with an event verb the
# story has not used yet ("resigned" in a story about talks) reports a new kind of event even
# when it introduces no new name or number.
_EVENT_VERBS_TEXT = """
    announce announced announces accept accepted accepts agree agreed agrees arrest arrested
    attack attacked ban banned cancel cancelled canceled charge charged confirm confirmed confirms
    crash crashed declare declared deny denied denies die died dies elect elected fire fired
    free freed injure injured kill killed launch launched meet met propose proposed proposes
    reject rejected rejects release released resign resigned rule ruled sign signed strike struck
    sue sued threaten threatened vote voted warn warned win won withdraw withdrew invite invited
    approve approved block blocked collide collided raid raided resume resumed suspend suspended
    """
EVENT_VERBS = frozenset(_EVENT_VERBS_TEXT.split())

# Page furniture by form, matched on the lower-cased sentence: one case-sensitive pattern per kind
# (a single case-insensitive alternation costs four times as much, and runs on every sentence).
_FURNITURE_WORDS = re.compile(
    r"""(?x)
    \b(read\ more|continue\ reading|click\ here|sign\ up|subscribe|newsletters?
    |become\ a\ member|all\ rights\ reserved|copyright|cookie|privacy\ policy
    |terms\ of\ (use|service)|follow\ us|share\ (this|on)|advertisement|getty\ images
    |(toggle|hide|image)\ caption|enlarge\ this\ image|photo\ credit|min\ read
    |related\ (articles?|stories|coverage|content|links|reading)|most\ popular
    |originally\ (appeared|published)\ (on|in)|chat\ with\ us|download\ the\ app|skip\ to
    |log\ ?in|sign\ ?in|just\ watched|more\ videos|pic\.twitter\.com|t\.co/\w+)\b
    """
)
_FURNITURE_LEAD = re.compile(
    r"\s*((by|photo|image|source|credit|video|watch|listen)\b[^.]{0,60}$"
    r"|(photos?|pictures?|gallery|video|watch|listen|related)\s*:)"
)
# A caption led by its credit in capitals ("GETTY Max Verstappen swerves past ...").
_CREDIT_LEAD = re.compile(r"\s*GETTY\b")
_FURNITURE_AGENCY_TAIL = re.compile(r"(\(|/)\s*(ap|afp|reuters|epa|getty)\s*\)?\s*$")
_FURNITURE_HANDLE = re.compile(r"@\s*\S+\.(com|org|net|ru|ua|uk)\b")
# Photo credits closing a caption line: "(Spencer Platt/Getty Images)", "(AP Photo/Jane Doe)",
# "(Photo: Police Department)", "(Jane Doe/The Washington Post)", "(Reuters)".
_CREDIT_TAIL = re.compile(r"\(([^()]{2,80})\)$")
_CREDIT_NAME_SLASH = re.compile(r"[A-Z][\w.'\-]*(?:,? [A-Z][\w.'\-]*)*\s*/\s*[A-Z]")
_CREDIT_WORDS = re.compile(
    r"^\s*(photo|image|picture|photograph|credit)s?\b|\b(getty|associated press|ap photo"
    r"|reuters|afp|epa|shutterstock|via ap|courtesy|file photo)\b|^\s*(ap|pa|pool)\s*$"
)

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# Sloppy copy: a sentence run into the next without a space ("the week.The talks"), and a
# possessive split from its name ("Angola 's"). Both are mended before splitting and tokenising,
# so a reformatted copy reads like its original.
_RUN_ON = re.compile(r"(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])(?!(?:Com|Net|Org)\b)")
_SPACED_POSSESSIVE = re.compile(r"(?<=\w) +'s\b")
# Abbreviations whose trailing period does not end a sentence.
_ABBREV = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sen|Rep|Gov|Gen|Col|Lt|Sgt|St|Jr|Sr|Inc|Corp|Ltd|Co|No|vs|etc|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|[A-Z])\.$"
)
_QUOTE = re.compile(r'"([^"]{12,}?)"')
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALISED = re.compile(r"^[A-Z][\w'.\-]*$|^[A-Z]{2,}$")
_CONNECTORS = frozenset({"of", "de", "al", "von", "van", "der", "la", "le", "du", "bin", "da"})

MIN_SENTENCE_WORDS = 6


def fold(text: str) -> str:
    """NFKC with typographic quotes/dashes folded to ASCII; case and spacing kept."""
    return unicodedata.normalize("NFKC", text).translate(_FOLD)


def normalise(text: str) -> str:
    """Canonical form for the content hash (case, quotes, dashes and whitespace folded)."""
    return _SPACE.sub(" ", fold(text)).strip().lower()


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters/digits, inner apostrophes, hyphens and dots kept)."""
    mended = _SPACED_POSSESSIVE.sub("'s", _RUN_ON.sub(" ", fold(text)))
    return [w.lower() for w in _WORD.findall(mended)]


# Suffixes stripped by :func:`stem`, longest first; "-ings" before "-ing" and "-s", so a plural
# gerund ("shootings") meets its singular ("shooting") instead of stopping at "shooting".
_SUFFIXES = (("ings", ""), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", ""))


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match "talks"/"talk", "rejected"/"rejects".

    Every inflection of a word must meet its base form, or the same word counts as new to a
    story ("shootings" after "shooting", "votes" after "vote") and as a different term in its
    centroid: a four-letter word loses its final "e" as its inflections do ("fire", "fires",
    "fired" all become "fir").
    """
    if not word.isalpha():
        return word
    if len(word) <= 4:
        return _drop_e(word)
    for suffix, keep in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            return _drop_e(word[: -len(suffix)] + keep)
    return _drop_e(word)


def _drop_e(word: str) -> str:
    # "release"/"released"/"releases" all become "releas"; "vote"/"votes"/"voted" "vot".
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def content_terms(text: str) -> list[str]:
    """Stemmed non-stopword tokens of ``text``, in order (duplicates kept for term frequency)."""
    return _content_terms(words(text))


def _content_terms(tokens: list[str]) -> list[str]:
    out = []
    for w in tokens:
        if w in STOPWORDS or len(w) < 2:
            continue
        out.append(stem(w.replace("'s", "")))
    return out


def _is_heading(line: str) -> bool:
    """A line without final punctuation whose words are mostly capitalised is a heading."""
    stripped = line.strip().strip("*#_ ").strip()
    if not stripped or stripped[-1] in ".!?\"'":
        return False
    toks = [t for t in stripped.split() if t[0].isalpha()]
    if not toks:
        return True
    caps = sum(1 for t in toks if t[0].isupper() or t.lower() in STOPWORDS)
    return caps / len(toks) >= 0.8


def split_sentences(text: str) -> list[str]:
    """Split into sentences on line breaks and on sentence-final punctuation."""
    return [s for line in _lines(text) for s in _line_sentences(line)]


def _lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, folded, mended and stripped."""
    mended = _SPACED_POSSESSIVE.sub("'s", _RUN_ON.sub(" ", fold(text)))
    return [line for raw in mended.splitlines() if (line := raw.strip())]


def _line_sentences(line: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(line):
        piece = line[start : m.start()].rstrip()
        if _ABBREV.search(piece.rstrip("\"')]")):
            continue
        out.append(line[start : m.end()].strip())
        start = m.end()
    tail = line[start:].strip()
    if tail:
        out.append(tail)
    return out


def _is_caption(line: str) -> bool:
    """A photo caption: a line ending in a parenthesised credit, "(Photographer/Agency)",
    "(AP Photo/...)", "(Photo: ...)", "(Getty Images)". Every sentence of it goes, not only the
    credit: the description ("X speaks at a news conference in ... on <date>") is not news."""
    if not line.endswith(")"):
        return False
    found = _CREDIT_TAIL.search(line)
    if found is None:
        return False
    credit = found.group(1)
    return bool(_CREDIT_NAME_SLASH.search(credit) or _CREDIT_WORDS.search(credit.lower()))


def _is_furniture(folded: str) -> bool:
    """Page furniture recognisable by form (headings, captions, credits, calls to action), in a
    sentence already folded by :func:`fold`."""
    if _is_heading(folded):
        return True
    if len(_WORD.findall(folded)) < MIN_SENTENCE_WORDS:
        return True
    low = folded.lower()
    return bool(
        _CREDIT_LEAD.match(folded)
        or _FURNITURE_WORDS.search(low)
        or _FURNITURE_LEAD.match(low)
        or ("@" in low and _FURNITURE_HANDLE.search(low))
        or _FURNITURE_AGENCY_TAIL.search(low)
    )


def content_sentences(text: str) -> list[str]:
    """The sentences of ``text`` that are not page furniture, in order, verbatim (folded)."""
    return [
        s
        for line in _lines(text)
        if not _is_caption(line)
        for s in _line_sentences(line)
        if not _is_furniture(s)
    ]


def clean_body(text: str) -> str:
    """The body without page furniture: what dedup fingerprints and clustering reads."""
    return "\n".join(content_sentences(text))


def shingles(tokens: list[str], n: int = 5) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than ``n`` words yields one shingle of all its words."""
    if not tokens:
        return set()
    if len(tokens) < n:
        return {tuple(tokens)}
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def entities(sentence: str) -> set[str]:
    """Capitalised spans as lower-case tokens: a cheap stand-in for named entities.

    Tokens are returned individually ("hakan", "fidan") so that a later "Fidan" matches an earlier
    "Hakan Fidan". A capitalised sentence-initial word counts only when it is not a function word.
    """
    found: set[str] = set()
    tokens = fold(sentence).split()
    cores = [tok.strip("\"'()[],.;:!?*").removesuffix("'s") for tok in tokens]
    for i, core in enumerate(cores):
        if not core or not _CAPITALISED.match(core):
            continue
        # Every sentence starts with a capital: its first word is a name only when a capitalised
        # word follows it ("Hakan Fidan said", not "Representatives of the union met").
        if i == 0 and not (len(cores) > 1 and cores[1] and _CAPITALISED.match(cores[1])):
            continue
        low = core.lower().strip(".")
        if low in STOPWORDS or low in MONTHS or low in _CONNECTORS or len(low) < 2:
            continue
        found.add(low)
    return found


def numbers(sentence: str) -> set[str]:
    """Numbers and dates ("30-day" -> "30", "May 15" -> "may 15") as normalised strings."""
    return _numbers(sentence, words(sentence))


def _numbers(sentence: str, toks: list[str]) -> set[str]:
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(sentence)}
    for a, b in itertools.pairwise(toks):
        if a in MONTHS and b.isdigit():
            found.add(f"{a[:3]} {b}")
    return found


def quotes(sentence: str) -> list[str]:
    """Quoted passages of at least a few words."""
    return [q.strip() for q in _QUOTE.findall(fold(sentence)) if len(q.split()) >= 3]


def event_verbs(sentence: str) -> set[str]:
    """Stems of the event verbs in ``sentence``."""
    return _event_verbs(words(sentence))


def _event_verbs(tokens: list[str]) -> set[str]:
    return {stem(w) for w in tokens if w in EVENT_VERBS}


@dataclass(frozen=True, slots=True)
class SentenceFeatures:
    """What novelty detection needs to know about one sentence."""

    text: str
    terms: frozenset[str]
    entities: frozenset[str]
    numbers: frozenset[str]
    quotes: tuple[str, ...]
    event_verbs: frozenset[str]
    # For term frequencies: every content term in order (repeats kept), and the stemmed words of
    # its names and numbers (the entity boost of story clustering).
    term_list: tuple[str, ...] = ()
    name_terms: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[type[SentenceFeatures], tuple[object, ...]]:
        # Features travel from the extraction workers to the flow by pickle: positional
        # construction loads in two thirds of the time of the default frozen-slots protocol.
        return (SentenceFeatures, _feature_values(self))


# Every field of SentenceFeatures, in declaration order (its positional arguments).
_feature_values = operator.attrgetter(*(f.name for f in dataclasses.fields(SentenceFeatures)))


# Sentences recur: novelty and clustering both read them, and wire copy repeats them verbatim.
@functools.lru_cache(maxsize=16384)
def sentence_features(sentence: str) -> SentenceFeatures:
    tokens = words(sentence)  # tokenised once for terms, numbers and verbs
    term_list = tuple(_content_terms(tokens))
    ents = entities(sentence)
    nums = _numbers(sentence, tokens)
    return SentenceFeatures(
        text=sentence,
        terms=frozenset(term_list),
        entities=frozenset(ents),
        numbers=frozenset(nums),
        quotes=tuple(quotes(sentence)),
        event_verbs=frozenset(_event_verbs(tokens)),
        term_list=term_list,
        name_terms=tuple(stem(part) for name in ents | nums for part in name.split()),
    )


def article_sentences(title: str, body: str) -> list[str]:
    """Content sentences of an article; a body without any falls back to the title."""
    return with_title_fallback(title, content_sentences(body))


def without_printed_headline(title: str, sentences: list[str]) -> list[str]:
    """``sentences`` without a first line that is the headline again: pages often print their
    headline inside the article, and its extraction then opens with it. That line is the
    headline, not the article's first sentence; it stays when nothing follows it."""
    if len(sentences) < 2:
        return sentences
    headline = set(content_terms(title))
    first = set(content_terms(sentences[0]))
    if not headline or not first:
        return sentences
    shared = len(headline & first)
    if shared >= 0.8 * len(headline) and shared >= 0.8 * len(first):
        return sentences[1:]
    return sentences


def with_title_fallback(title: str, sentences: list[str]) -> list[str]:
    """``sentences`` (the body's content sentences), or the title when there are none."""
    if not sentences and title.strip():
        return [fold(title).strip()]
    return sentences
