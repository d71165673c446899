"""An alert's one-click action links (:mod:`monitor.action_links`), answered by the web view.

* ``GET /act/{token}``: a confirmation page naming the action, the topic and the story, with a
  POST button. It changes nothing, so a mail scanner fetching every link in a message applies
  nothing.
* ``POST /act/{token}`` (the page's form: ``token`` and the ``csrf`` field, checked as the other
  actions' are, :mod:`monitor.web.actions`): applies the action once through
  :func:`monitor.pipeline.feedback.apply_link`, in the feedback transaction holding the
  detection lock, recorded as ``MONITOR_WEB__USER``. A second POST changes nothing and says when
  the link was used.

The link is its own credential: these two addresses need no access token
(``MONITOR_WEB__TOKEN``), only a token signed with ``MONITOR_WEB__LINK_SECRET``, unexpired. A
malformed token is answered 400, a forged or expired one 403, and without a link secret the
addresses are 404.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor import action_links
from monitor.action_links import LinkClaim
from monitor.errors import FeedbackError, LinkError
from monitor.pipeline import feedback
from monitor.web.actions import checked_form, csrf_token

PREFIX = "/act/"
Clock = Callable[[], datetime]
Page = Callable[..., Response]

_HEADINGS = {
    action_links.NOT_MY_TOPIC: ("Not my topic?", "Stop alerts on this story for this topic"),
    action_links.NOT_NEW: ("Not new?", "Mark this development not new"),
}
_EXPLAIN = {
    action_links.NOT_MY_TOPIC: "The story will raise no more alerts for this topic (you can "
    "unmute it on the story's page).",
    action_links.NOT_NEW: "The alert's facts will count as already reported: a later article "
    "repeating them raises no alert (you can undo it on the story's page).",
}
_STATUS = {"malformed": 400, "signature": 403, "expired": 403, "wrong-action": 403}


# Long by design: the routes of the signed links, handlers sharing the engines, secret and clock
# as closures; each is a few lines over monitor.action_links and the feedback functions.
def routes(
    read: sessionmaker[Session],
    write: sessionmaker[Session],
    secret: str | None,
    user: str,
    now: Clock,
    page: Page,
) -> list[Route]:
    """``/act/{token}`` over the pages' ``read`` sessions and the actions' ``write`` ones."""

    def claim_of(request: Request) -> tuple[str, LinkClaim]:
        if secret is None:
            raise HTTPException(404, "action links are not enabled on this server")
        token = str(request.path_params["token"])
        try:
            return token, action_links.verify(token, secret, now=now())
        except LinkError as exc:
            raise HTTPException(_STATUS.get(exc.reason, 400), str(exc)) from exc

    def show(request: Request, token: str, outcome: Any, **context: Any) -> Response:
        heading, confirm = _HEADINGS[context.pop("action")]
        return page(
            "act.html",
            heading=heading,
            target=outcome,
            token=token,
            csrf=csrf_token(request),
            confirm=context.pop("confirm", confirm),
            **context,
        )

    def confirm(request: Request) -> Response:
        token, claim = claim_of(request)
        with read() as session:
            try:
                target = feedback.link_target(session, claim)
            except FeedbackError as exc:
                raise HTTPException(404, str(exc)) from exc
            used = feedback.used_link(session, claim)
        if used is not None:
            return show(
                request,
                token,
                target,
                action=claim.action,
                confirm="",
                message=f"Already done by {used.used_by} at {used.used_at:%Y-%m-%d %H:%M} UTC.",
            )
        return show(request, token, target, action=claim.action, message=_EXPLAIN[claim.action])

    async def apply(request: Request) -> Response:
        token, claim = claim_of(request)
        form = await checked_form(request)
        if not hmac.compare_digest(form.get("token", "").encode(), token.encode()):
            raise HTTPException(400, "the form's token does not match its address")

        def run() -> feedback.LinkOutcome:
            with feedback.feedback_transaction(write) as session:
                return feedback.apply_link(session, claim, by=user, now=now())

        try:
            outcome = await run_in_threadpool(run)
        except FeedbackError as exc:
            raise HTTPException(404, str(exc)) from exc
        if outcome.applied:
            message = "Done. " + _EXPLAIN[claim.action]
        else:
            assert outcome.used is not None
            message = (
                f"Already done by {outcome.used.used_by} at "
                f"{outcome.used.used_at:%Y-%m-%d %H:%M} UTC: this link was used before, "
                "nothing changed."
            )
        return show(
            request, token, outcome.target, action=claim.action, confirm="", message=message
        )

    return [
        Route(PREFIX + "{token}", confirm, methods=["GET"]),
        Route(PREFIX + "{token}", apply, methods=["POST"]),
    ]
