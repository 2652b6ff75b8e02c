"""The scheduler's jobs. APScheduler stores a job as a reference to one of these functions plus its
arguments, so they are module functions that reach the running services through ``install``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from casework.service import FollowUpWork

log = logging.getLogger(__name__)

_work: FollowUpWork | None = None
_dialog_sweep: Callable[[], Awaitable[int]] | None = None


def install(work: FollowUpWork) -> None:
    """Give the jobs of this process the services they act through (done once, at start-up)."""
    global _work
    _work = work


def install_dialog_sweep(sweep: Callable[[], Awaitable[int]]) -> None:
    """How this process reminds, then lets go of, conversations left half-way."""
    global _dialog_sweep
    _dialog_sweep = sweep


def _installed() -> FollowUpWork:
    if _work is None:
        raise RuntimeError("casework jobs ran before casework.jobs.install() was called")
    return _work


async def sweep_deadlines() -> None:
    """Every minute: crises nobody acknowledged climb a step, unclaimed tickets reach supervisors."""
    climbed = await _installed().escalate_crises()
    if climbed:
        log.info("alerted the next step of %d unacknowledged crises", climbed)
    escalated = await _installed().escalate_overdue()
    if escalated:
        log.info("escalated %d unclaimed tickets", escalated)


async def home_visit_reminder(ticket_id: int) -> None:
    await _installed().remind_home_visit(ticket_id)


async def satisfaction_survey(ticket_id: int) -> None:
    await _installed().send_survey(ticket_id)


async def weekly_digest() -> None:
    await _installed().send_weekly_digests()


# How long a handled update's id is kept against redelivery: Telegram keeps an update 24 hours, so a
# week is ample, and the table does not grow with every message ever received.
PROCESSED_UPDATES_KEPT = timedelta(days=7)


async def prune_processed_updates() -> None:
    pruned = await _installed().prune_processed_updates(PROCESSED_UPDATES_KEPT)
    if pruned:
        log.info("forgot %d handled updates older than %s", pruned, PROCESSED_UPDATES_KEPT)


async def expire_dialogs() -> None:
    if _dialog_sweep is None:
        log.warning("no dialog sweep installed in this process; abandoned conversations wait")
        return
    touched = await _dialog_sweep()
    if touched:
        log.info("reminded or closed %d abandoned conversations", touched)
