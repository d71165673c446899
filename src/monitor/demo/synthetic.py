"""Synthetic articles for benchmarks: deterministic, varied, several hundred words each.

Everything is generated from small fictional vocabularies (towns, people, organisations) with a
seeded random generator, so a benchmark run is reproducible byte for byte.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from monitor.demo.content import DemoArticle, Outlet
from monitor.demo.pages import slugify
from monitor.models import Article


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SYNTHETIC_OUTLETS: tuple[Outlet, ...] = (
    Outlet(
        "orrin-herald", "Orrin Valley Herald", "rss", "Daily news for the Orrin valley", "Orrin"
    ),
    Outlet(
        "tessary-wire", "Tessary Wire", "atom", "The wire service of the Tessary isles", "Tessary"
    ),
    Outlet(
        "quillmoor-digest", "Quillmoor Digest", "json", "Quillmoor in five minutes", "Quillmoor"
    ),
    Outlet("strand-gazette", "Strand Gazette", "rss", "Since 1887 on the Strand", "Strandholm"),
)

_TOWN_A = _words(
    "Ast Bel Cor Dun Eld Fal Gor Hal Ister Kel Lor Mar Nor Ost Pel Quar Ros Sel Tor Ul"
)
_TOWN_B = _words("by ford holm mouth wick stead dale haven bridge moor ton mere field gate cross")
_FIRST = _words(
    "Aino Bram Cosima Dag Edda Fionn Greta Hakon Ines Joss Kaia Linus Maren Nils Odile Per "
    "Quinn Runa Sten Tove Ulla Vidar Wren Yrsa Abel Birte Casper Dorit Elias Frida"
)
_SUR_A = _words("Ash Black Brook Cald Dray Fen Gil Hart Ivers Kest Lang Mor Nash Orme Pryce Rad")
_SUR_B = _words("en ley well by ton ford man ard ick es")
_ORG_KINDS = (
    "Council",
    "Water Board",
    "Rail Company",
    "Hospital Trust",
    "Chamber of Commerce",
    "Fishermen's Cooperative",
    "Teachers' Association",
    "Housing Society",
    "Energy Cooperative",
    "Farmers' Union",
    "Heritage Trust",
    "Harbour Board",
)
# theme: (things, actions done to them, measures that move, adjectives)
_THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "transport": (
        ("tram line", "bus depot", "ring road", "ferry terminal", "cycle lane", "toll bridge"),
        ("approved plans for", "delayed work on", "reopened", "ordered a review of", "extended"),
        ("passenger numbers", "journey times", "ticket prices", "reported delays"),
        ("congested", "overdue", "ambitious", "long-awaited"),
    ),
    "health": (
        ("maternity ward", "walk-in clinic", "ambulance station", "dental practice", "pharmacy"),
        ("closed", "opened", "merged", "moved", "expanded"),
        ("waiting lists", "staff vacancies", "admissions", "missed appointments"),
        ("overstretched", "modern", "temporary", "specialist"),
    ),
    "schools": (
        ("primary school", "sixth-form college", "school canteen", "sports hall", "library"),
        ("rebuilt", "inspected", "renamed", "funded", "extended"),
        ("pupil numbers", "exam results", "class sizes", "teacher shortages"),
        ("crowded", "rural", "new", "popular"),
    ),
    "housing": (
        ("housing estate", "tower block", "riverside flats", "student halls", "care home"),
        ("demolished", "refurbished", "sold", "approved", "blocked"),
        ("rents", "house prices", "empty homes", "planning applications"),
        ("affordable", "derelict", "listed", "controversial"),
    ),
    "energy": (
        ("wind farm", "solar park", "heat network", "tidal barrage", "substation"),
        ("connected", "commissioned", "objected to", "paused", "financed"),
        ("power bills", "output", "outages", "emissions"),
        ("offshore", "community-owned", "experimental", "noisy"),
    ),
    "fisheries": (
        ("fish market", "trawler fleet", "oyster beds", "cold store", "slipway"),
        ("restocked", "licensed", "inspected", "relocated", "modernised"),
        ("catches", "quotas", "landings", "prices at auction"),
        ("dwindling", "historic", "seasonal", "inshore"),
    ),
    "culture": (
        ("concert hall", "film festival", "art gallery", "folk museum", "open-air theatre"),
        ("reopened", "restored", "rescheduled", "crowdfunded", "curated"),
        ("visitor numbers", "ticket sales", "volunteer hours", "donations"),
        ("sold-out", "intimate", "travelling", "restored"),
    ),
    "weather": (
        ("sea wall", "flood barrier", "storm drain", "river embankment", "coastal path"),
        ("repaired", "breached", "reinforced", "surveyed", "closed"),
        ("rainfall totals", "river levels", "insurance claims", "wind speeds"),
        ("battered", "waterlogged", "exposed", "fragile"),
    ),
    "courts": (
        ("fraud case", "planning appeal", "licensing hearing", "public inquiry", "tribunal"),
        ("adjourned", "dismissed", "reopened", "upheld", "referred"),
        ("legal costs", "case backlogs", "fines", "compensation claims"),
        ("lengthy", "closed-door", "landmark", "unusual"),
    ),
    "trade": (
        ("container depot", "market hall", "distribution centre", "free port", "shopping arcade"),
        ("leased", "reopened", "expanded", "sold off", "rebranded"),
        ("exports", "footfall", "shop vacancies", "freight volumes"),
        ("busy", "struggling", "family-run", "bonded"),
    ),
}
_DAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
_MONTHS = _words("January February March April May June July August September October November")


class _Writer:
    """Composes one article's sentences from a theme, a town, people and organisations."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.theme = rng.choice(list(_THEMES))
        things, self.actions, self.measures, self.adjs = _THEMES[self.theme]
        # Each story names its own places and projects, as real stories do; without them every
        # article of a theme would read like every other and no story would ever end.
        self.names = [_coined(rng) for _ in range(6)]
        self.things = tuple(f"{name} {rng.choice(things)}" for name in self.names)
        # The story's own vocabulary: real stories differ in what they talk about, not only in
        # names, so every fourth sentence is written mostly in it.
        self.lexicon = [_coined(rng).lower() for _ in range(120)]
        self.towns = [self._town() for _ in range(3)]
        self.orgs = [f"{rng.choice(self.towns)} {rng.choice(_ORG_KINDS)}" for _ in range(3)]
        self.people = [
            f"{rng.choice(_FIRST)} {rng.choice(_SUR_A)}{rng.choice(_SUR_B)}" for _ in range(4)
        ]

    def follow_up(self, rng: random.Random) -> _Writer:
        """Another article on the same story: same names, new sentences and figures."""
        other = copy.copy(self)
        other.rng = rng
        return other

    def _town(self) -> str:
        return self.rng.choice(_TOWN_A) + self.rng.choice(_TOWN_B)

    def c(self, options: Sequence[str]) -> str:
        return self.rng.choice(options)

    def role(self) -> str:
        return self.c(
            (
                f"who chairs the {self.c(self.orgs)}",
                f"a spokesperson for the {self.c(self.orgs)}",
                f"an economist at the University of {self.c(self.towns)}",
                f"who has run a {self.c(('bakery', 'boatyard', 'bookshop', 'garage'))} "
                f"in {self.c(self.towns)} for {self.rng.randrange(3, 40)} years",
                f"a councillor for the {self.c(('north', 'east', 'harbour', 'old town'))} ward",
            )
        )

    def sentence(self) -> str:
        if self.rng.random() < 0.75:
            return self._lexical_sentence()
        return self._template_sentence()

    def _lexical_sentence(self) -> str:
        r = self.rng
        words: list[str] = []
        for _ in range(r.randrange(9, 17)):
            if r.random() < 0.35:
                words.append(r.choice(_FUNCTION_WORDS))
            words.append(r.choice(self.lexicon))
        extras = (self.c(self.people), self.c(self.towns), str(r.randrange(2, 500)))
        for extra in r.sample(extras, r.randrange(1, 3)):
            words.insert(r.randrange(1, len(words)), extra)
        return c_title(" ".join(words)) + "."

    # Long by design: a table of eight sentence shapes, one branch each.
    def _template_sentence(self) -> str:
        r, c = self.rng, self.c
        thing, town, org, adj = c(self.things), c(self.towns), c(self.orgs), c(self.adjs)
        measure, person = c(self.measures), c(self.people)
        pick = r.randrange(8)
        if pick == 0:
            vote = f"after a vote of {r.randrange(5, 40)} to {r.randrange(1, 5)}"
            why = c(("ending months of uncertainty", "to the surprise of residents", vote))
            return f"On {c(_DAYS)} the {org} {c(self.actions)} the {adj} {thing} in {town}, {why}."
        if pick == 1:
            when = c(
                ("last year", "over the winter", f"since {c(_MONTHS)}", "in the first quarter")
            )
            source = c(
                (
                    f"according to figures from the {org}",
                    f"the {org} said",
                    f"a report by the {org} found",
                    f"the {org} estimated",
                )
            )
            moved = c(("rose", "fell", "climbed", "dropped"))
            return f"{c_title(measure)} {moved} by {r.randrange(2, 60)} per cent {when}, {source}."
        if pick == 2:
            who = c(("We", "People here", "The town", "Nobody"))
            feel = c(
                (
                    "cannot keep waiting for",
                    "were never asked about",
                    "deserve better than",
                    "have fought for years for",
                )
            )
            return f'"{who} {feel} the {thing}," said {person}, {self.role()}.'
        if pick == 3:
            done = c(("built", "first proposed", "opened", "last renovated"))
            effect = c(("served", "frustrated", "employed", "divided"))
            many = c(("generations of", "thousands of", "hundreds of", "many"))
            whom = c(("families", "commuters", "visitors", "workers", "residents"))
            return (
                f"The {thing} was {done} in {r.randrange(1890, 2020)} and has {effect} "
                f"{many} {whom} in {town}."
            )
        if pick == 4:
            scheme = c(("scheme", "project", "plan", "work"))
            remark = c(
                (
                    f"of which the {org} will pay half",
                    "twice the first estimate",
                    "to be met from reserves",
                    "a figure critics call optimistic",
                )
            )
            return (
                f"The {scheme} is expected to cost {r.randrange(2, 900)} million crowns, {remark}."
            )
        if pick == 5:
            group = c(("Residents", "Traders", "Campaigners", "Parents", "Opposition councillors"))
            reacted = c(("welcomed", "criticised", "questioned", "shrugged at"))
            what = c(("decision", "announcement", "timetable", "figures"))
            saying = c(("saying", "warning", "arguing", "pointing out"))
            may = c(("would", "could", "might"))
            move = c(("rise again", "fall further", "double", "stay high"))
            when = c((f"before {c(_MONTHS)}", "next year", "within a decade", "by the summer"))
            return (
                f"{group} in {town} {reacted} the {what}, {saying} that {measure} {may} {move} "
                f"{when}."
            )
        if pick == 6:
            ruling = c(("decision", "ruling", "final vote", "consultation"))
            when = c(
                (f"in {c(_MONTHS)}", f"next {c(_DAYS)}", "before the elections", "within weeks")
            )
            will = c(("will present", "is due to publish", "has promised"))
            doc = c(
                ("a revised plan", "the full accounts", "an independent review", "new proposals")
            )
            return (
                f"A {ruling} on the {adj} {thing} is expected {when}, when {person} {will} {doc}."
            )
        said = c(("said", "told reporters", "wrote in a letter", "argued at a meeting"))
        erred = c(("underestimated", "ignored", "misjudged", "overstated"))
        since = c(("for years", "from the start", "again", "this time"))
        return f"{person}, {self.role()}, {said} that the {org} had {erred} {measure} {since}."

    def title(self) -> str:
        c = self.c
        kind = c(("plan", "row", "decision", "review", "future"))
        verdict = c(("in focus", "under scrutiny", "at record level", "questioned"))
        return f"{self.towns[0]} {c(self.things)} {kind}: {c(self.lexicon)} {verdict}"


_FUNCTION_WORDS = _words("the of in and to a for on with that by from at as")
_SYLLABLES = _words(
    "ka ro vel tis mar en dru sol bar vik ath lun gor pe sy ran ost ul me thi zo fen qua bri"
)


def _coined(rng: random.Random) -> str:
    """A made-up proper name ("Velmaro"): story-specific vocabulary."""
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randrange(2, 4)))
    return word.capitalize()


def c_title(text: str) -> str:
    return text[:1].upper() + text[1:]


def synthetic_articles(n: int, seed: int) -> list[DemoArticle]:
    """``n`` deterministic, varied articles (about 400-700 words) spread over SYNTHETIC_OUTLETS,
    in stories of one to five articles."""
    rng = random.Random(seed)  # noqa: S311 - reproducible fixtures, not security
    start = datetime(2025, 2, 1, 6, 0, tzinfo=UTC)
    articles: list[DemoArticle] = []
    story: _Writer | None = None
    left_in_story = story_no = 0
    for i in range(n):
        # Stories of 1-5 articles (mean 2.5), as on a real news day; a follow-up keeps the
        # story's names and adds new sentences and figures.
        stream = random.Random(rng.getrandbits(64))  # noqa: S311
        if story is None or left_in_story == 0:
            story = _Writer(stream)
            story_no += 1
            left_in_story = rng.randrange(1, 5)
            writer = story
        else:
            writer = story.follow_up(stream)
            left_in_story -= 1
        paragraphs = tuple(
            " ".join(writer.sentence() for _ in range(writer.rng.randrange(2, 4)))
            for _ in range(writer.rng.randrange(9, 14))
        )
        outlet = SYNTHETIC_OUTLETS[i % len(SYNTHETIC_OUTLETS)]
        published = start + timedelta(minutes=7 * i + rng.randrange(7))
        title = writer.title()
        articles.append(
            DemoArticle(
                id=f"s{seed}-{i:05d}",
                outlet=outlet.slug,
                step=0,
                path=f"/{outlet.slug}/{published:%Y/%m/%d}/{slugify(title)[:70]}-{i}.html",
                title=title,
                summary=paragraphs[0].split(". ")[0].rstrip(".") + ".",
                author=writer.people[0],
                published=published,
                section=writer.theme.capitalize(),
                paragraphs=paragraphs,
                kind="original",
                expect_alert=False,
                note=f"synthetic benchmark article, story {story_no}",
            )
        )
    return articles


def synthetic_stream(n: int, seed: int, domain: str) -> list[Article]:
    """:func:`synthetic_articles` as the detect stage receives them, in publication order:
    pages already extracted, fetched when published, at ``https://<outlet>.<domain><path>``."""
    stream = []
    for demo in synthetic_articles(n, seed):
        url = f"https://{demo.outlet}.{domain}{demo.path}"
        stream.append(
            Article(
                source=demo.outlet,
                url=url,
                canonical_url=url,
                title=demo.title,
                text=demo.text,
                fetched_at=demo.published,
                published_at=demo.published,
            )
        )
    return stream
