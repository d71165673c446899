"""The web view's only writes: the reader's feedback forms, and their CSRF protection.

Actions (HTML forms, POST only; a GET of these addresses is 405 and changes nothing):

* ``POST /stories/{id}/mute`` (``topic``: the topic's slug; ``days``: empty for "not my topic",
  else a mute for that many days);
* ``POST /stories/{id}/unmute`` (``topic``);
* ``POST /developments/{id}/not-new``;
* ``POST /feedback/{id}/undo``;
* ``POST /deliveries/{id}/retry``: a failed or dead delivery back in the outbox, due at once
  (:func:`monitor.alerts.admin.retry_delivery`, what ``monitor alerts retry`` runs): the next
  delivery pass sends it, with the idempotency key it had. A delivery that was sent, is already
  waiting, or may be on its way right now (a failed one due within the passes' claim,
  ``MONITOR_DELIVERY__CLAIM_S``) is left as it is, answered 409 with the reason;
* ``POST /notice-deliveries/{id}/retry``: the same for one delivery of a source notice
  (:func:`monitor.alerts.admin.retry_notice_delivery`), under the notice's own key.

Each answers with a redirect (303) to ``back`` when it is a path of this site, else to the
story's page (a retry: to the Deliveries page). They run in their own read-write session (the
pages' engine cannot write). Feedback runs in a transaction holding the detection lock the
cycles hold (:func:`monitor.pipeline.feedback.feedback_transaction`) and records
``MONITOR_WEB__USER`` as who gave it; a retry, in a write transaction
(:func:`monitor.storage.db.take_write_lock`) whose one conditional UPDATE decides, and is
logged with the user.

CSRF: a double-submit token. Every response to a visitor without one sets the ``monitor_csrf``
cookie (random, HttpOnly, SameSite=Strict, Secure over https) and every form carries the same
value in a hidden ``csrf`` field; an action whose field is missing or differs from the cookie is
refused with 403 before anything is read or written. Another site can make a browser send the
cookie (SameSite=Strict already stops that) but cannot read it to fill in the field.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.alerts.admin import Retry, retry_delivery, retry_notice_delivery
from monitor.config import TopicConfig
from monitor.errors import FeedbackError
from monitor.pipeline import feedback
from monitor.storage.db import take_write_lock
from monitor.storage.feedback import MUTES, NOT_NEW, Feedback
from monitor.timeutil import as_utc

CSRF_COOKIE = "monitor_csrf"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 4096
Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


def csrf_token(request: Request) -> str:
    """The request's CSRF token (set by :func:`start_csrf`)."""
    return str(getattr(request.state, "csrf", ""))


def start_csrf(request: Request) -> bool:
    """Give the request its CSRF token: the visitor's cookie, or a new one (returns True when
    new: the response must then set it, see :func:`finish_csrf`)."""
    given = request.cookies.get(CSRF_COOKIE, "")
    fresh = not (20 <= len(given) <= 100 and given.isascii())
    request.state.csrf = secrets.token_urlsafe(32) if fresh else given
    return fresh


def finish_csrf(request: Request, response: Response) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@dataclass(frozen=True, slots=True)
class Marks:
    """The feedback in force on a page's stories: mutes by (topic, story id), not-new marks by
    development id."""

    mutes: dict[tuple[str, int], Feedback] = field(default_factory=dict)
    not_new: dict[int, Feedback] = field(default_factory=dict)

    def ends(self) -> datetime | None:
        """When the first of these marks stops being in force (a mute for N days), if ever."""
        ends = [
            as_utc(m.expires_at)
            for m in (*self.mutes.values(), *self.not_new.values())
            if m.expires_at is not None
        ]
        return min(ends, default=None)


def marks(session: Session, story_ids: list[int], now: datetime) -> Marks:
    found = Marks()
    for mark in feedback.in_force(session, story_ids, now):
        if mark.kind in MUTES and mark.topic is not None:
            found.mutes[(mark.topic, mark.story_id)] = mark
        elif mark.kind == NOT_NEW and mark.development_id is not None:
            found.not_new[mark.development_id] = mark
    return found


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF field matched the cookie (else 403)."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    try:
        parsed = parse_qs(body.decode("utf-8"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "not a form") from exc
    form = {k: v[0] for k, v in parsed.items() if v}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = form.get(CSRF_FIELD, "")
    if not cookie or not given or not hmac.compare_digest(cookie.encode(), given.encode()):
        raise HTTPException(403, "the form's CSRF token is missing or does not match")
    return form


def _back(form: dict[str, str], default: str) -> str:
    back = form.get("back", "")
    if back.startswith("/") and not back.startswith("//") and "\\" not in back:
        return back
    return default


def _days(form: dict[str, str]) -> int | None:
    raw = form.get("days", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise HTTPException(400, "days must be a whole number")
    return int(raw)


def _requeue(
    sessions: sessionmaker[Session],
    delivery_id: int,
    at: datetime,
    hold: timedelta,
    *,
    notice: bool = False,
) -> Retry:
    """Put one failed or dead delivery (of an alert, or with ``notice`` of a source notice)
    back in the outbox under the write lock; 404 when there is no such delivery, 409 (with the
    reason) when it may not be re-queued."""
    retry = retry_notice_delivery if notice else retry_delivery
    what = "Source notice delivery" if notice else "Delivery"
    with sessions.begin() as session:
        take_write_lock(session)
        done = retry(session, delivery_id, now=at, hold=hold)
    if done is None:
        raise HTTPException(404, f"no {what.lower()} {delivery_id}")
    if not done.requeued:
        raise HTTPException(409, f"{what} {delivery_id} was not re-queued: {done.reason}.")
    return done


# Long by design: the feedback forms' routes, handlers sharing the write engine, topics and clock
# as closures; each is a few lines over monitor.pipeline.feedback.
def routes(
    sessions: sessionmaker[Session],
    slugs: dict[str, TopicConfig],
    user: str,
    now: Clock,
    *,
    claim: timedelta,
) -> list[Route]:
    """The action routes over the read-write ``sessions``; ``claim`` is how long a delivery
    pass holds what it sends (``MONITOR_DELIVERY__CLAIM_S``)."""

    def topic_of(form: dict[str, str]) -> str:
        topic = slugs.get(form.get("topic", ""))
        if topic is None:
            raise HTTPException(400, "no such topic")
        return topic.name

    async def apply(act: Callable[[Session], Feedback | list[Feedback]]) -> None:
        def run() -> None:
            with feedback.feedback_transaction(sessions) as session:
                act(session)

        try:
            await run_in_threadpool(run)
        except FeedbackError as exc:
            raise HTTPException(400, str(exc)) from exc

    async def mute(request: Request) -> Response:
        form = await checked_form(request)
        story_id = int(request.path_params["story_id"])
        topic, days = topic_of(form), _days(form)
        await apply(lambda s: feedback.mute(s, topic, story_id, by=user, now=now(), days=days))
        return RedirectResponse(_back(form, f"/stories/{story_id}"), status_code=303)

    async def unmute(request: Request) -> Response:
        form = await checked_form(request)
        story_id = int(request.path_params["story_id"])
        topic = topic_of(form)
        await apply(lambda s: feedback.unmute(s, topic, story_id, by=user, now=now()))
        return RedirectResponse(_back(form, f"/stories/{story_id}"), status_code=303)

    async def not_new(request: Request) -> Response:
        form = await checked_form(request)
        development_id = int(request.path_params["development_id"])
        story: list[int] = []

        def act(session: Session) -> Feedback:
            mark = feedback.not_new(session, development_id, by=user, now=now())
            story.append(mark.story_id)
            return mark

        await apply(act)
        return RedirectResponse(_back(form, f"/stories/{story[0]}"), status_code=303)

    async def undo(request: Request) -> Response:
        form = await checked_form(request)
        feedback_id = int(request.path_params["feedback_id"])
        story: list[int] = []

        def act(session: Session) -> Feedback:
            mark = feedback.undo(session, feedback_id, by=user, now=now())
            story.append(mark.story_id)
            return mark

        await apply(act)
        return RedirectResponse(_back(form, f"/stories/{story[0]}"), status_code=303)

    async def retry(request: Request) -> Response:
        await checked_form(request)
        delivery_id = int(request.path_params["delivery_id"])
        done = await run_in_threadpool(_requeue, sessions, delivery_id, now(), claim)
        log.info("delivery %d (alert %d) re-queued by %s", delivery_id, done.owner_id, user)
        return RedirectResponse(f"/deliveries?retried={delivery_id}", status_code=303)

    async def retry_notice(request: Request) -> Response:
        await checked_form(request)
        delivery_id = int(request.path_params["delivery_id"])
        done = await run_in_threadpool(_requeue, sessions, delivery_id, now(), claim, notice=True)
        log.info("notice delivery %d (notice %d) re-queued by %s", delivery_id, done.owner_id, user)
        return RedirectResponse(f"/deliveries?retried_notice={delivery_id}", status_code=303)

    return [
        Route("/deliveries/{delivery_id:int}/retry", retry, methods=["POST"]),
        Route("/notice-deliveries/{delivery_id:int}/retry", retry_notice, methods=["POST"]),
        Route("/stories/{story_id:int}/mute", mute, methods=["POST"]),
        Route("/stories/{story_id:int}/unmute", unmute, methods=["POST"]),
        Route("/developments/{development_id:int}/not-new", not_new, methods=["POST"]),
        Route("/feedback/{feedback_id:int}/undo", undo, methods=["POST"]),
    ]
