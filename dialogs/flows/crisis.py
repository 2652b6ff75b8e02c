"""Where the person in a crisis is: asked after the hotlines and the urgent ticket, when the ticket
has no community, so that the staff nearest to them are alerted. Never blocks the hotlines, which
were sent first; not answering leaves the ticket where it is. Diagram: crisis.mmd."""

from __future__ import annotations

from enum import StrEnum

from dialogs.engine import END, Ctx, Flow
from dialogs.flows.common import area_step


class S(StrEnum):
    WHERE = "where"


async def placed(ctx: Ctx, area_id: int) -> str | None:
    ctx.end()  # the area step has moved the ticket (``place_crisis``) and said whom it reached
    return END


FLOW = Flow(
    name="crisis",
    start=S.WHERE,
    steps={S.WHERE: area_step("crisis.where", S.WHERE, None, chosen=placed)},
)
