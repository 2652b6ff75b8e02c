"""The scheduler's jobs. APScheduler stores a job as a reference to one of these functions plus its
arguments, so they are module functions that reach the running services through ``install``."""

from __future__ import annotations

import logging

from casework.service import FollowUpWork

log = logging.getLogger(__name__)

_work: FollowUpWork | None = None


def install(work: FollowUpWork) -> None:
    """Give the jobs of this process the services they act through (done once, at start-up)."""
    global _work
    _work = work


def _installed() -> FollowUpWork:
    if _work is None:
        raise RuntimeError("casework jobs ran before casework.jobs.install() was called")
    return _work


async def sweep_deadlines() -> None:
    escalated = await _installed().escalate_overdue()
    if escalated:
        log.info("escalated %d unclaimed tickets", escalated)


async def home_visit_reminder(ticket_id: int) -> None:
    await _installed().remind_home_visit(ticket_id)


async def satisfaction_survey(ticket_id: int) -> None:
    await _installed().send_survey(ticket_id)


async def weekly_digest() -> None:
    await _installed().send_weekly_digests()
