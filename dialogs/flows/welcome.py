"""Welcome and consent: what the service is, then consent for each purpose, each answer recorded with
the notice's version as it is given (a conversation cut off halfway loses none). Declining still leaves
policy questions and anonymous reports. Diagram: welcome.mmd."""

from __future__ import annotations

from enum import StrEnum

from casework.domain import ASKED_AT_START, ConsentPurpose
from casework.people import NOTICE_VERSION
from dialogs.engine import END, Ctx, Flow, Step
from dialogs.flows.common import yes_no_step

PURPOSES = ASKED_AT_START


class S(StrEnum):
    STORE = "store_report"
    SHARE = "share_with_agency"
    CONTACT = "contact_me"


ORDER = (S.STORE, S.SHARE, S.CONTACT)


async def begin(ctx: Ctx) -> str | None:
    ctx.say("welcome.intro", version=NOTICE_VERSION)
    return S.STORE


def _asker(purpose: S) -> Step:
    async def answered(ctx: Ctx, answer: bool) -> str | None:
        await ctx.services.people.record_consents(ctx.person.id, {ConsentPurpose(purpose.value): answer})
        position = ORDER.index(purpose)
        if position + 1 < len(ORDER):
            return ORDER[position + 1].value
        return await finish(ctx)

    return yes_no_step(f"consent.ask.{purpose.value}", purpose.value, answered)


async def finish(ctx: Ctx) -> str | None:
    granted = await ctx.services.people.consents(ctx.person.id)
    ctx.say("consent.recorded" if ConsentPurpose.STORE_REPORT in granted else "consent.declined")
    pending = ctx.data.get("pending_text")
    ctx.end()
    if pending:
        await ctx.engine.route_text(ctx, pending)
    else:
        ctx.say("help.menu")
    return END


FLOW = Flow(
    name="welcome",
    start=S.STORE,
    begin=begin,
    steps={purpose: _asker(purpose) for purpose in ORDER},
    later_questions=True,  # each answer is recorded as it is given
)
