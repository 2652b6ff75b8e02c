"""Supervision (督导): a supervisor reviews a finished case against a short rubric (the household
assessed, a plan set and followed, the person kept informed, the outcome recorded), each criterion
not, partly or fully met, with a comment for the worker. The worker who had the case is told; the
score (the share of the rubric met) is one of the service's indicators (``casework.indicators``)."""

from __future__ import annotations

from collections.abc import Mapping

from casework.access import Operation
from casework.core import Operations, person_name
from casework.domain import (
    AlertKind,
    Conflict,
    Criterion,
    InvalidInput,
    Met,
    Person,
    Refusal,
    Role,
    SupervisionReview,
    Ticket,
)
from casework.lifecycle import LIFECYCLE, Step, allows

COMMENT_CHARS = 2000


def review_readable_by(person: Person, ticket: Ticket) -> bool:
    """Whether ``person`` reads the supervision reviews of a case they may read: a review is about the
    worker's work, so the worker who had the case and supervisors do, the area's other workers not."""
    return not (person.role is Role.SOCIAL_WORKER and ticket.assignee_id != person.id)


class Supervision(Operations):
    """A supervisor's reviews of finished cases, scored against the review criteria."""

    async def review(
        self, actor: Person, ticket_id: int, scores: Mapping[Criterion, Met], comment: str = ""
    ) -> SupervisionReview:
        """The supervisor's review of a finished case of their areas: every criterion scored. It is on
        the trail with its score (never the comment), and the worker who had the case hears it."""
        if set(scores) != set(Criterion) or not all(isinstance(met, Met) for met in scores.values()):
            raise InvalidInput(Refusal.SUPERVISION_SCORES)
        core = self.core
        now = core.clock.now()
        async with core.database.transaction() as tx:
            ticket, _ = await core.checked(tx, actor, Operation.SUPERVISE, ticket_id)
            if not allows(Step.SUPERVISE, ticket, actor):
                raise Conflict(
                    Refusal.SUPERVISION_UNFINISHED, reference=ticket.reference, status=ticket.status
                )
            review = await tx.tickets.add_supervision(
                ticket_id=ticket.id,
                supervisor_id=actor.id,
                scores=scores,
                comment=comment.strip()[:COMMENT_CHARS] or None,
                now=now,
            )
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=LIFECYCLE[Step.SUPERVISE].event,
                actor_id=actor.id,
                note=f"{review.score}%",
                now=now,
            )
            if ticket.assignee_id is not None and ticket.assignee_id != actor.id:
                await core.tell(
                    tx,
                    ticket,
                    AlertKind.CASE_SUPERVISED,
                    [ticket.assignee_id],
                    extra={
                        "by": person_name(actor),
                        "supervision": {
                            "score": review.score,
                            "scores": {criterion.value: int(met) for criterion, met in scores.items()},
                            "comment": review.comment or "",
                        },
                    },
                    round_key=f"#{review.id}",
                )
        core.committed()
        return review

    async def reviews(self, actor: Person, ticket_id: int) -> list[SupervisionReview]:
        """The supervisors' reviews of a case, for whoever may read the case."""
        async with self.core.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.VIEW, ticket_id)
            return await tx.tickets.supervision(ticket.id)
