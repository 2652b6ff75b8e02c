"""The scheduler's jobs.

APScheduler keeps a job as a textual reference to one of these functions (``casework.jobs:
home_visit_reminder``) with the arguments it was scheduled with (``(42,)``), so jobs survive a restart.
What a job acts through (the casework, the dialog engine) cannot be kept with it: each function takes
this process's ``JobServices`` first, and the scheduler that runs it supplies them
(``casework.scheduling.JobExecutor``). The references are the ones jobs have always been stored under.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Concatenate, ParamSpec

from casework.domain import AlertKind
from casework.follow_ups import FollowUpWork

log = logging.getLogger(__name__)
P = ParamSpec("P")


@dataclass(frozen=True)
class JobServices:
    """What the jobs act through in this process: the casework's follow-up work and, where the
    process holds conversations, how it reminds, then lets go of, those left half-way."""

    follow_ups: FollowUpWork
    sweep_dialogs: Callable[[], Awaitable[int]] | None = None


JobFunction = Callable[Concatenate[JobServices, P], Awaitable[None]]


def stored(function: JobFunction[P]) -> JobFunction[P]:
    """A job function, stored with the arguments that follow its ``services``.

    APScheduler checks the arguments a job is scheduled with against its function's signature; the
    services are not among them, so the signature it reads leaves them out."""
    signature = inspect.signature(function)
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=tuple(signature.parameters.values())[1:]
    )
    return function


@stored
async def sweep_deadlines(services: JobServices) -> None:
    """Every minute: crises nobody acknowledged climb a step, unclaimed tickets reach supervisors."""
    climbed = await services.follow_ups.escalate_crises()
    if climbed:
        log.info("alerted the next step of %d unacknowledged crises", climbed)
    escalated = await services.follow_ups.escalate_overdue()
    if escalated:
        log.info("escalated %d unclaimed tickets", escalated)


@stored
async def home_visit_reminder(services: JobServices, ticket_id: int) -> None:
    await services.follow_ups.remind_home_visit(ticket_id)


@stored
async def satisfaction_survey(services: JobServices, ticket_id: int) -> None:
    await services.follow_ups.send_survey(ticket_id)


@stored
async def reassessment_reminder(services: JobServices, household_id: int) -> None:
    await services.follow_ups.remind_reassessment(household_id)


@stored
async def review_reminder(services: JobServices, household_id: int) -> None:
    await services.follow_ups.remind_review(household_id)


@stored
async def weekly_digest(services: JobServices) -> None:
    await services.follow_ups.send_reports(AlertKind.WEEKLY_DIGEST, "last-week")


@stored
async def monthly_report(services: JobServices) -> None:
    await services.follow_ups.send_reports(AlertKind.MONTHLY_REPORT, "last-month", to_evaluators=True)


# How long a handled update's id is kept against redelivery: Telegram keeps an update 24 hours, so a
# week is ample, and the table does not grow with every message ever received.
PROCESSED_UPDATES_KEPT = timedelta(days=7)


@stored
async def prune_processed_updates(services: JobServices) -> None:
    pruned = await services.follow_ups.prune_processed_updates(PROCESSED_UPDATES_KEPT)
    if pruned:
        log.info("forgot %d handled updates older than %s", pruned, PROCESSED_UPDATES_KEPT)


@stored
async def expire_dialogs(services: JobServices) -> None:
    if services.sweep_dialogs is None:
        log.warning("this process holds no conversations; abandoned conversations wait")
        return
    touched = await services.sweep_dialogs()
    if touched:
        log.info("reminded or closed %d abandoned conversations", touched)
