"""A newsroom whose one Atom entry is updated in place, version after version: the page and
the entry's <updated> change together (for the follow_updates tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.demo.server import LocalServer, Route

ATOM = "application/atom+xml; charset=utf-8"
LEAD = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June, "
    "after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines Varga "
    "said the ferry to Kell Island would move to the north quay while a new terminal is built."
)
# Background the page carries in every version: an update adds a paragraph to a long page, so
# the new version is mostly the old one (a near duplicate, were it another outlet's copy).
BACKGROUND = (
    "The terminal opened in 1968 and has carried about 300,000 passengers a year since the "
    "causeway to the mainland closed.",
    "Engineers from the Harbour Board inspected the piles in January after divers reported "
    "cracks near the waterline on the seaward side.",
    "A temporary pontoon at the north quay will be built by a contractor from Velden at a "
    "cost the council put at 2.4 million euros.",
    "Residents of Kell Island asked the council at a meeting in February to keep a night "
    "sailing during the works, which the council said it would consider.",
    "The new terminal is due to open in 2033, according to the plans the council published "
    "with its decision on Tuesday.",
)
UPDATE = (
    "Update: on Thursday the ferry operator Kell Lines said a second boat, the Marta, would "
    "sail from the north quay from 3 April, and that fares would rise by 8 percent."
)
TYPO_FIX = LEAD.replace("Tuesday", "Tuesday evening")


def page(*paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<html lang='en'><head><title>Tarrow to close ferry terminal</title></head><body>"
        f"<article><h1>Tarrow to close ferry terminal</h1>{body}</article></body></html>"
    ).encode()


def _atom(server: LocalServer, updated: datetime, extra: str = "") -> bytes:
    published = datetime(2031, 3, 4, 8, 0, tzinfo=UTC)
    entry = (
        f"<entry><title>Tarrow to close ferry terminal</title><id>urn:gazette:1</id>"
        f"<link href='{server.url('/ferry.html')}'/>"
        f"<published>{published.isoformat()}</published><updated>{updated.isoformat()}</updated>"
        "</entry>"
    )
    return (
        "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Gazette</title>"
        f"<id>urn:gazette</id><updated>{updated.isoformat()}</updated>{entry}{extra}</feed>"
    ).encode()


class UpdatingNewsroom:
    def __init__(self, server: LocalServer) -> None:
        self.server = server
        # Versions are dated after the monitor first reads the page (now).
        self.t0 = datetime.now(UTC).replace(microsecond=0)

    def publish(
        self, version: int, *paragraphs: str, extra: str = "", later: timedelta | None = None
    ) -> None:
        """Version 0 is dated before the first reading; version n, n minutes after it (or
        ``later`` after it)."""
        updated = self.t0 + (later or timedelta(minutes=version))
        if not version:
            updated = self.t0 - timedelta(hours=1)
        self.server.table.set("/ferry.html", Route(body=page(*paragraphs)))
        self.server.table.set(
            "/atom.xml", Route(content_type=ATOM, body=_atom(self.server, updated, extra))
        )

    def fetched(self) -> int:
        return len(self.server.table.requests_for("/ferry.html"))
