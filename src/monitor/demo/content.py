"""The demo newsroom: outlets, articles and timeline of a fictional port dispute in four steps.

Everything here is invented: the town of Marrowick, its port, the union, the people, the outlets.

Contract:

* :data:`OUTLETS` are four outlets, one per feed format (Atom, RSS, JSON Feed) plus a second RSS
  outlet whose feed breaks in the last step (:data:`OUTAGES`): a failure the monitor must report
  without stopping the cycle.
* :data:`ARTICLES` are the articles in publication order. Each belongs to a ``step`` (0-3); the
  :class:`~monitor.demo.newsroom.Newsroom` releases a step's articles when told to.
* Each article states what it is (``kind``) and what a monitor watching :data:`DEMO_TOPIC` should
  do with it (``expect_alert``, ``note``): the first report and the follow-ups that bring new facts
  alert; a verbatim wire reprint (``kind="wire-copy"``, identical text, ``repeats`` = the original)
  and a rewrite restating an earlier report in other words with no new fact (``kind="rewrite"``)
  do not; unrelated stories never match the topic, including one that names Marrowick.
* Dates are fixed (March 2025, UTC) so that pages and feeds are byte-for-byte reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

FeedKind = Literal["rss", "atom", "json"]
ArticleKind = Literal["original", "wire-copy", "rewrite", "follow-up", "unrelated"]


@dataclass(frozen=True, slots=True)
class Outlet:
    """A fictional publication. Paths are absolute paths on the newsroom server."""

    slug: str
    name: str
    feed_kind: FeedKind
    tagline: str
    town: str
    language: str = "en"
    sections: tuple[str, ...] = ("News", "Politics", "Business", "Culture", "Sport", "Opinion")
    most_read: tuple[str, ...] = ()

    @property
    def home_path(self) -> str:
        return f"/{self.slug}/"

    @property
    def feed_path(self) -> str:
        name = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}[self.feed_kind]
        return f"/{self.slug}/{name}"


@dataclass(frozen=True, slots=True)
class DemoArticle:
    """One article of the demo (or of a synthetic benchmark set).

    ``path`` is where its page is served; ``feed_query`` is appended to the link the feed gives
    (tracking parameters a canonicaliser must strip). ``repeats`` names the article a wire copy or
    rewrite repeats. ``expect_alert`` is what a monitor watching the demo topic should do.
    """

    id: str
    outlet: str
    step: int
    path: str
    title: str
    summary: str
    author: str
    published: datetime
    section: str
    paragraphs: tuple[str, ...]
    kind: ArticleKind
    expect_alert: bool
    note: str = ""
    repeats: str | None = None
    pull_quote: tuple[str, str] | None = None  # (quote, who said it)
    feed_query: str = ""
    language: str = "en"

    @property
    def text(self) -> str:
        """The article body as plain text, paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)

    @property
    def word_count(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


@dataclass(frozen=True, slots=True)
class DemoTopic:
    """A topic to configure: a name and a query in the monitor's query language."""

    name: str
    query: str


@dataclass(frozen=True, slots=True)
class FeedOutage:
    """From ``step`` on (until ``until_step``, exclusive), the outlet's feed URL serves ``body``."""

    outlet: str
    step: int
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    until_step: int | None = None
    note: str = ""

    def active(self, step: int) -> bool:
        return self.step <= step and (self.until_step is None or step < self.until_step)


DEMO_TOPIC = DemoTopic(
    name="Marrowick port talks",
    query='marrowick AND (talks OR negotiations OR mediator OR strike OR "pay offer")',
)
DEMO_TOPICS: tuple[DemoTopic, ...] = (DEMO_TOPIC,)

OUTLETS: tuple[Outlet, ...] = (
    Outlet(
        slug="cpa",
        name="Calder Press Agency",
        feed_kind="atom",
        tagline="Wire news from the Calder coast since 1921",
        town="Calder",
        most_read=(
            "Calder coast ferries add a winter timetable",
            "Regional labour board names three new members",
            "Saltreach fish market moves to Thursday mornings",
            "Inland canal freight up for a fourth quarter",
            "Storm warning lifted for the northern headlands",
        ),
    ),
    Outlet(
        slug="courier",
        name="The Marrowick Courier",
        feed_kind="rss",
        tagline="Marrowick's daily paper",
        town="Marrowick",
        most_read=(
            "Where to find the best fish soup on the quayside",
            "Bin collection days change in the Eastgate district",
            "Marrowick Rovers sign a goalkeeper from Saltreach",
            "Letters: the tram extension and your views",
            "Ten winter walks along the Marrow estuary",
        ),
    ),
    Outlet(
        slug="ledger",
        name="Lowland Ledger",
        feed_kind="json",
        tagline="The region, explained",
        town="Halden",
        most_read=(
            "Explainer: how the regional budget is set",
            "Five towns where house prices fell last year",
            "The Ledger quiz of the week",
            "Why the Halden bypass is three years late",
            "Podcast: the lowland dairy question",
        ),
    ),
    Outlet(
        slug="fenmoor-post",
        name="Fenmoor Evening Post",
        feed_kind="rss",
        tagline="News for Fenmoor and the Moorside villages",
        town="Fenmoor",
        most_read=(
            "Fenmoor market hall roof repairs begin",
            "Moorside bus route saved after petition",
            "Photo gallery: the winter lantern parade",
            "Fenmoor Athletic draw at home again",
            "Council sets date for library consultation",
        ),
    ),
)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


_TRACKING = "?utm_source=rss&utm_medium=feed&utm_campaign=wire"

# --- step 0 -------------------------------------------------------------------------------------

_TALKS_OPEN = (
    "Negotiators for striking dockworkers and the Marrowick Port Authority sat down at City Hall "
    "on Tuesday for the first mediated talks since the walkout began on 3 March, bringing the two "
    "sides face to face for the first time in eight days.",
    "The Harbour and Transport Workers' Union, which represents about 1,400 crane operators, "
    "lashers and pilots at the port, is seeking a pay rise of 9 per cent over two years. The port "
    "authority has so far offered 4 per cent, saying that higher container fees would drive "
    "shipping lines to rival harbours further down the coast.",
    "The talks are chaired by Agnes Oduya, a retired judge of the Calder High Court who was "
    "appointed mediator by the regional labour board last week. She has asked both sides not to "
    "brief reporters while the sessions continue.",
    '"We have come here to reach an agreement, not to trade insults," the union\'s general '
    'secretary, Ilse Varga, told reporters outside City Hall before the first session. "Our '
    'members want a settlement that keeps pace with what they pay for rent and food."',
    'Tomas Brenner, chief executive of the port authority, said the authority was "ready to '
    'listen" but warned that its finances were limited. "Every week the cranes stand still costs '
    'this port customers it may never win back," he said.',
    "According to the harbourmaster's office, 37 cargo ships were waiting at anchor beyond the "
    "breakwater on Tuesday morning, and two ferry operators have diverted freight to the port of "
    "Saltreach, about 60 kilometres to the north.",
    "No timetable has been set for the talks. The labour board said further sessions would be "
    "held at City Hall for as long as the mediator considered them useful.",
)

_BRIDGE = (
    "The Old Mill rail bridge over the river Fenn reopened to passenger trains on Tuesday morning, "
    "two years after engineers closed it when cracks were found in two of its iron girders.",
    "The first service, the 06:12 from Fenmoor to Kettleby, crossed the bridge with about 90 "
    "passengers on board, many of them regular commuters who had spent two winters on replacement "
    "buses.",
    "Railway engineers replaced 48 girders and strengthened the stone piers, which date from "
    "1868. The work cost 31 million crowns, about a third more than first planned, after flooding "
    "in the autumn of 2023 delayed the project by five months.",
    '"People have been very patient," said Colm Astley, who managed the project. "The bridge is '
    'good for another hundred years, and the journey to Kettleby is twenty minutes shorter again."',
    "Trains will run every half hour at peak times from next week. The operator has promised "
    "that season tickets bought for the bus replacement period will be refunded in part.",
    "Local historians have asked for the original maker's plates, removed during the repairs, to "
    "be displayed at Fenmoor station.",
)

_GROWERS = (
    "Vegetable growers across the lowland plain have started planting up to three weeks earlier "
    "than usual after the mildest winter on record at the Halden weather station.",
    "The station recorded only four nights of frost between December and February, against an "
    "average of twenty-one, and soil temperatures have stayed above seven degrees since the "
    "middle of February.",
    '"We put the first potatoes in on the twentieth of February, which my father would never have '
    'believed," said Marit Gunde, who farms 140 hectares near Halden.',
    "The regional growers' association warned that an early start carries risks. A late cold "
    "snap in April could damage young plants, and several members are keeping fleece covers "
    "ready.",
    "Water levels in the drainage channels are also lower than normal for the time of year, and "
    "the association has asked the water board to delay its spring pumping programme.",
    "Seed merchants in Halden reported strong sales of early varieties of peas and broad beans "
    "over the past fortnight.",
)

# --- step 1 -------------------------------------------------------------------------------------

_TALKS_OPEN_REWRITE = (
    "After more than a week of idle cranes, the two sides in the Marrowick port dispute are "
    "finally in the same room.",
    "Representatives of the dockworkers and of the Marrowick Port Authority met at City Hall on "
    "Tuesday in the presence of a mediator, Agnes Oduya, a former Calder High Court judge chosen "
    "for the job by the regional labour board.",
    "The walkout started on 3 March. Around 1,400 members of the Harbour and Transport Workers' "
    "Union, among them crane operators, lashers and pilots, have stayed away from the quays ever "
    "since.",
    "At the heart of the dispute is money. The union is holding out for 9 per cent spread across "
    "two years, while the authority has not gone beyond 4 per cent and argues that recovering the "
    "cost through higher fees would push shipping lines towards competing harbours along the "
    "coast.",
    "Union leader Ilse Varga struck a conciliatory tone on her way into the building, saying her "
    'side had come "to reach an agreement, not to trade insults". Port authority chief Tomas '
    "Brenner said he was willing to listen, while stressing that the money available was limited.",
    "Meanwhile the backlog keeps growing: the harbourmaster's office counted 37 cargo ships "
    "anchored outside the breakwater, and some ferry freight has already been sent on to "
    "Saltreach, further north.",
    "There is no deadline for a settlement, and the mediator has asked both camps to keep their "
    "discussions out of the press.",
)

# --- step 2 -------------------------------------------------------------------------------------

_OFFER_RAISED = (
    "The Marrowick Port Authority has raised its pay offer to striking dockworkers to 6.5 per "
    "cent over two years, plus a one-off payment of 800 crowns per worker, after a second round "
    "of mediated talks that ran until almost midnight on Wednesday.",
    "The Harbour and Transport Workers' Union said it would put the offer to its members in a "
    "postal and online ballot closing at noon on Friday 14 March, without a recommendation from "
    "its executive either way.",
    'Ilse Varga, the union\'s general secretary, said the new offer was "a serious step" but fell '
    'short of the 9 per cent her members had asked for. "It is now for the people who have stood '
    'on the picket line for ten days to decide," she said.',
    "The improved terms followed an intervention by Marrowick's deputy mayor, Ruth Calloway, who "
    "told the mediator on Wednesday that the city would waive 1.2 million crowns of quay rent owed "
    "by the port authority this year if that helped to close the gap.",
    '"The city cannot sit on the sidelines while the harbour is empty," Calloway said. She '
    "estimated that the strike was costing local businesses about 2.3 million crowns a day in "
    "lost trade.",
    "The queue outside the port has continued to grow. The harbourmaster's office said 52 ships "
    "were at anchor on Thursday morning, and Nordvik Line, the largest container carrier calling "
    "at Marrowick, has announced that its next two sailings will skip the port.",
    'Mediator Agnes Oduya said the two sides were "closer than they were on Tuesday" and that the '
    "talks would be suspended until the result of the ballot is known.",
)

_CHOIR = (
    "The senior choir of Fenmoor Grammar School has won the national schools choral "
    "championship, beating twenty-three other finalists at the concert hall in Halden on "
    "Wednesday evening.",
    "The 34 singers, aged between fifteen and eighteen, performed a programme of three folk "
    "songs from the Moorside villages arranged by their director, Beatrix Onslow.",
    '"They sang as if the hall were their own kitchen," one of the judges, the conductor Felix '
    "Amadi, said when announcing the result.",
    "It is the first time a Fenmoor school has won the title since it was established in 1971. "
    "The prize includes a recording session at the national broadcaster's studios and 5,000 "
    "crowns for the school's music department.",
    "Onslow said the choir would perform the winning programme again at St Aldric's church in "
    "Fenmoor on the last Sunday of the month, with free entry.",
)

# --- step 3 -------------------------------------------------------------------------------------

_DEAL_ACCEPTED = (
    "Dockworkers in Marrowick have voted to accept an improved pay deal, bringing an end to a "
    "strike that has shut the city's port since 3 March. Work will resume at 6 a.m. on Monday "
    "17 March, the Harbour and Transport Workers' Union said on Friday.",
    "In a ballot that closed at noon, 71 per cent of members voted in favour on a turnout of 88 "
    "per cent. The offer put to the vote was revised in a final session of talks on Thursday "
    "night, raising the pay rise to 7 per cent over two years, up from 6.5 per cent, alongside "
    "the one-off payment of 800 crowns already on the table.",
    "The agreement also commits the port authority to hiring 60 additional crane operators by "
    "the end of the year, a demand the union had raised since the start of the dispute but which "
    "had not been made public until now.",
    '"This is what holding together looks like," Ilse Varga, the union\'s general secretary, told '
    'members at a rally on the quayside. "Nobody got everything, but nobody was left behind."',
    "Tomas Brenner, chief executive of the Marrowick Port Authority, said the settlement would "
    'cost the authority about 14 million crowns over two years. "It is a fair deal and an '
    'expensive one, and we will now work to win back every customer we lost," he said.',
    "Harbourmaster Piet Lindahl said it would take about ten days to clear the backlog of 58 "
    "ships now waiting offshore, and that priority would be given to vessels carrying fuel and "
    "food.",
    "Agnes Oduya, who mediated the talks, said she would remain available to both sides during "
    "the first month of the agreement.",
)

_DEAL_ACCEPTED_REWRITE = (
    "The cranes in Marrowick will move again on Monday. Striking dockworkers have backed a "
    "revised pay offer, and their union says members will be back at work at 6 a.m. on 17 March.",
    "Members of the Harbour and Transport Workers' Union approved the deal by 71 per cent, with "
    "88 per cent of them taking part in the vote, which closed at midday on Friday.",
    "Under the terms settled with the Marrowick Port Authority in a late session on Thursday, pay "
    "goes up by 7 per cent across two years, up from the 6.5 per cent offered earlier in the "
    "week, and each worker receives the one-off 800 crowns that was already on the table.",
    "The authority has also agreed to take on 60 more crane operators before the year is out.",
    "Union general secretary Ilse Varga told a quayside rally that nobody had got everything, "
    '"but nobody was left behind". Port authority chief Tomas Brenner put the cost of the '
    "settlement at about 14 million crowns over two years and called it fair but expensive.",
    "According to harbourmaster Piet Lindahl, clearing the 58 ships queued offshore will take "
    "around ten days, with cargoes of fuel and food handled first.",
    "Agnes Oduya, the mediator, has offered to stay on call for both sides for the first month "
    "of the deal.",
)

_LIGHTHOUSE = (
    "The great glass lens of the Gull Point lighthouse, which guided ships into Marrowick for "
    "more than a century, went on display at the Museum of the Sea on Friday after a three-year "
    "restoration.",
    "The lens, made of 312 hand-polished glass prisms in a brass frame, weighs 1.8 tonnes and was "
    "taken down in 2019 when the lighthouse was fitted with an electric beacon.",
    "A team of eleven volunteers led by the conservator Mina Halloran cleaned and reset every "
    "prism by hand. Nine cracked prisms were replaced with copies cast by a glassworks in "
    "Halden.",
    '"When we lit it for the first time in the workshop, the whole room went quiet," Halloran '
    'said. "You understand why sailors trusted it with their lives."',
    "The lens will be lit for visitors every evening at dusk until the end of April. The museum, "
    "on the old customs quay, is open from ten until five, Tuesday to Sunday, and entry is free "
    "for children under twelve.",
)


ARTICLES: tuple[DemoArticle, ...] = (
    DemoArticle(
        id="growers-plant-early",
        outlet="ledger",
        step=0,
        path="/ledger/stories/growers-plant-early-after-mild-winter-4811",
        title="Lowland growers start planting early after the mildest winter on record",
        summary="Farmers around Halden are planting up to three weeks ahead of the usual date.",
        author="Sunniva Krog",
        published=_at(11, 6, 30),
        section="Environment",
        paragraphs=_GROWERS,
        kind="unrelated",
        expect_alert=False,
        note="another story on another outlet: does not match the topic",
        pull_quote=(
            "We put the first potatoes in on the twentieth of February, which my father would "
            "never have believed.",
            "Marit Gunde",
        ),
    ),
    DemoArticle(
        id="talks-open",
        outlet="cpa",
        step=0,
        path="/cpa/news/2025-03-11/mediated-talks-open-in-marrowick-port-strike",
        title="Mediated talks open in Marrowick as port strike enters second week",
        summary=(
            "Union and port authority meet under a court-appointed mediator as 37 cargo ships "
            "wait off the Marrowick breakwater."
        ),
        author="Hanna Sorvik",
        published=_at(11, 7, 0),
        section="Business",
        paragraphs=_TALKS_OPEN,
        kind="original",
        expect_alert=True,
        note="first report of the story: alert",
        pull_quote=(
            "We have come here to reach an agreement, not to trade insults.",
            "Ilse Varga, Harbour and Transport Workers' Union",
        ),
    ),
    DemoArticle(
        id="bridge-reopens",
        outlet="fenmoor-post",
        step=0,
        path="/fenmoor-post/2025/03/11/old-mill-rail-bridge-reopens.html",
        title="Old Mill rail bridge reopens after two-year repair",
        summary="Trains cross the river Fenn again after 48 girders were replaced.",
        author="Gideon Marsh",
        published=_at(11, 7, 20),
        section="News",
        paragraphs=_BRIDGE,
        kind="unrelated",
        expect_alert=False,
        note="another story on another outlet: does not match the topic",
        pull_quote=("People have been very patient.", "Colm Astley, project manager"),
    ),
    DemoArticle(
        id="talks-open-reprint",
        outlet="courier",
        step=1,
        path="/courier/2025/03/11/mediated-talks-open-in-marrowick.html",
        title="Mediated talks open in Marrowick as port strike enters second week",
        summary=(
            "Union and port authority meet under a court-appointed mediator as 37 cargo ships "
            "wait off the Marrowick breakwater."
        ),
        author="Hanna Sorvik",
        published=_at(11, 8, 30),
        section="News",
        paragraphs=_TALKS_OPEN,
        kind="wire-copy",
        expect_alert=False,
        note="verbatim reprint of the agency report: a duplicate, no alert",
        repeats="talks-open",
        pull_quote=(
            "We have come here to reach an agreement, not to trade insults.",
            "Ilse Varga, Harbour and Transport Workers' Union",
        ),
        feed_query=_TRACKING,
    ),
    DemoArticle(
        id="talks-open-rewrite",
        outlet="ledger",
        step=1,
        path="/ledger/stories/marrowick-port-dispute-sides-meet-4817",
        title="Port strike: Marrowick union and employers finally face each other",
        summary="The dockworkers and the port authority are in the same room at last.",
        author="Dario Mendel",
        published=_at(11, 10, 0),
        section="Business",
        paragraphs=_TALKS_OPEN_REWRITE,
        kind="rewrite",
        expect_alert=False,
        note="the first report restated in other words, no new fact: another report, no alert",
        repeats="talks-open",
        pull_quote=("to reach an agreement, not to trade insults", "Ilse Varga"),
    ),
    DemoArticle(
        id="offer-raised",
        outlet="courier",
        step=2,
        path="/courier/2025/03/13/port-authority-raises-pay-offer.html",
        title="Port authority raises pay offer to 6.5% as dockworkers' union calls ballot",
        summary="Members will vote by Friday noon; the city offers to waive 1.2 million crowns.",
        author="Owen Pellary",
        published=_at(13, 8, 0),
        section="News",
        paragraphs=_OFFER_RAISED,
        kind="follow-up",
        expect_alert=True,
        note="new facts (6.5% offer, ballot on 14 March, deputy mayor, 52 ships): alert",
        pull_quote=(
            "The city cannot sit on the sidelines while the harbour is empty.",
            "Ruth Calloway, deputy mayor",
        ),
    ),
    DemoArticle(
        id="choir-title",
        outlet="fenmoor-post",
        step=2,
        path="/fenmoor-post/2025/03/13/grammar-school-choir-wins-national-title.html",
        title="Fenmoor Grammar School choir wins national title",
        summary="Thirty-four singers win the schools choral championship for the first time.",
        author="Lotte Vance",
        published=_at(13, 10, 0),
        section="Culture",
        paragraphs=_CHOIR,
        kind="unrelated",
        expect_alert=False,
        note="another story on another outlet: does not match the topic",
        pull_quote=("They sang as if the hall were their own kitchen.", "Felix Amadi, judge"),
    ),
    DemoArticle(
        id="deal-accepted",
        outlet="cpa",
        step=3,
        path="/cpa/news/2025-03-14/marrowick-dockworkers-accept-deal",
        title="Marrowick dockworkers vote to accept deal, ending two-week port strike",
        summary="71% back a 7% rise over two years; work resumes on Monday 17 March.",
        author="Hanna Sorvik",
        published=_at(14, 15, 0),
        section="Business",
        paragraphs=_DEAL_ACCEPTED,
        kind="follow-up",
        expect_alert=True,
        note="new facts (ballot result, 7% deal, 60 new crane operators, 58 ships): alert",
        pull_quote=("Nobody got everything, but nobody was left behind.", "Ilse Varga"),
    ),
    DemoArticle(
        id="deal-accepted-reprint",
        outlet="courier",
        step=3,
        path="/courier/2025/03/14/dockworkers-vote-to-accept-deal.html",
        title="Marrowick dockworkers vote to accept deal, ending two-week port strike",
        summary="71% back a 7% rise over two years; work resumes on Monday 17 March.",
        author="Hanna Sorvik",
        published=_at(14, 15, 40),
        section="News",
        paragraphs=_DEAL_ACCEPTED,
        kind="wire-copy",
        expect_alert=False,
        note="verbatim reprint of the agency report: a duplicate, no alert",
        repeats="deal-accepted",
        pull_quote=("Nobody got everything, but nobody was left behind.", "Ilse Varga"),
        feed_query=_TRACKING,
    ),
    DemoArticle(
        id="deal-accepted-rewrite",
        outlet="ledger",
        step=3,
        path="/ledger/stories/marrowick-port-strike-is-over-4829",
        title="The Marrowick port strike is over: what the deal means",
        summary="Cranes move again on Monday after union members back a revised offer.",
        author="Dario Mendel",
        published=_at(14, 18, 0),
        section="Business",
        paragraphs=_DEAL_ACCEPTED_REWRITE,
        kind="rewrite",
        expect_alert=False,
        note="the deal report restated in other words, no new fact: another report, no alert",
        repeats="deal-accepted",
        pull_quote=("but nobody was left behind", "Ilse Varga"),
    ),
    DemoArticle(
        id="lighthouse-lens",
        outlet="courier",
        step=3,
        path="/courier/2025/03/14/gull-point-lighthouse-lens-on-display.html",
        title="Restored Gull Point lighthouse lens goes on display in Marrowick",
        summary="The 1.8-tonne lens is lit every evening at the Museum of the Sea.",
        author="Ada Quillan",
        published=_at(14, 19, 0),
        section="Culture",
        paragraphs=_LIGHTHOUSE,
        kind="unrelated",
        expect_alert=False,
        note="names Marrowick but is not about the dispute: must not match the topic",
        pull_quote=("The whole room went quiet.", "Mina Halloran, conservator"),
    ),
)

_MAINTENANCE_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>We'll be right back</title></head>
<body><h1>Fenmoor Evening Post is down for maintenance</h1>
<p>Our website is being upgraded. Please try again in a few minutes.</p></body></html>
"""

OUTAGES: tuple[FeedOutage, ...] = (
    FeedOutage(
        outlet="fenmoor-post",
        step=3,
        status=200,
        body=_MAINTENANCE_PAGE,
        note="the feed URL answers 200 with an HTML maintenance page: a reported source error",
    ),
)
