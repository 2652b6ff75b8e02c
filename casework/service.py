"""The casework: every operation on a ticket, in the groups a social worker thinks of them in —
opening a case (``opening``), working it (``working``), talking with the person (``conversation``),
keeping the household's file (``case_file``), referring it (``referral``) and reading it
(``reading``) — with the scheduler's follow-ups beside them (``follow_ups``). Each operation is one
transaction that changes the ticket, writes its trail and queues its alerts in the same commit (the
outbox), after checking the actor may do it; what they share is ``core``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, tzinfo

from casework import assessment_form
from casework.administration import Administration
from casework.agency_review import AgencyReviews
from casework.assessment_form import Form
from casework.case_file import CaseFiles
from casework.clock import Clock
from casework.conversation import Conversation, Signature
from casework.core import CaseworkCore, FollowUps
from casework.deadlines import DeadlinePolicy
from casework.domain import Channel
from casework.indicators import Evaluation, Weights
from casework.opening import Opening
from casework.reading import Reading
from casework.referral import Referrals
from casework.supervision import Supervision
from casework.unit_of_work import UnitOfWork
from casework.working import Working


class Casework:
    """The casework operations on one database, clock and set of deadlines, each by the name callers
    use, from the group it belongs to."""

    def __init__(
        self,
        database: UnitOfWork,
        clock: Clock,
        policy: DeadlinePolicy,
        *,
        follow_ups: FollowUps,
        timezone: tzinfo = UTC,
        on_alerts_queued: Callable[[], None] | None = None,
        alert_channel: Channel | None = None,
        sign_messages_as: Signature = Signature.WORKER,
        assessment: Form | None = None,
        weights: Weights | None = None,
    ) -> None:
        self.core = CaseworkCore(
            database,
            clock,
            policy,
            follow_ups=follow_ups,
            timezone=timezone,
            on_alerts_queued=on_alerts_queued,
            alert_channel=alert_channel,
        )
        self.opening = Opening(self.core)
        self.working = Working(self.core)
        self.referrals = Referrals(self.core)
        self.reading = Reading(self.core)
        self.conversation = Conversation(self.core, sign_as=sign_messages_as)
        self.case_files = CaseFiles(self.core, assessment or assessment_form.default())
        self.evaluation = Evaluation(self.core, weights)
        self.supervision = Supervision(self.core)
        self.agency_reviews = AgencyReviews(self.core)
        self.administration = Administration(self.core)

        # Opening a case.
        self.open_ticket = self.opening.open_ticket
        self.add_report = self.opening.add_report
        # Working it: a crisis, claiming and assigning, the steps of the work, the household's rating.
        self.acknowledge = self.working.acknowledge
        self.locate_crisis = self.working.locate_crisis
        self.claim = self.working.claim
        self.assign = self.working.assign
        self.assignable_workers = self.working.assignable_workers
        self.team = self.working.team
        self.add_note = self.working.add_note
        self.record_visit = self.working.record_visit
        self.resolve = self.working.resolve
        self.close = self.working.close
        self.reopen = self.working.reopen
        self.rate = self.working.rate
        self.comment_on_rating = self.working.comment_on_rating
        self.settle_for_erasure = self.working.settle_for_erasure
        # Referring it.
        self.refer = self.referrals.refer
        self.respond_to_referral = self.referrals.respond_to_referral
        self.complete_referral = self.referrals.complete_referral
        self.referral_targets = self.referrals.referral_targets
        self.referral_for = self.referrals.referral_for
        self.referral_under_way = self.referrals.referral_under_way
        # Talking with the person: how to reach them, messages both ways.
        self.case_contact = self.conversation.contact
        self.show_phone = self.conversation.show_phone
        self.message_person = self.conversation.message_person
        self.open_thread = self.conversation.open_thread
        self.reply_on_case = self.conversation.reply
        self.answer_anonymously = self.conversation.answer_anonymously
        self.propose_visit = self.conversation.propose_visit
        self.answer_visit = self.conversation.answer_visit
        # The household's case file: assessment, plan, reviews, volunteers' tasks.
        self.case_file = self.case_files.file
        self.record_assessment = self.case_files.record_assessment
        self.may_record = self.case_files.may_record
        self.add_goal = self.case_files.add_goal
        self.set_goal_status = self.case_files.set_goal_status
        self.record_review = self.case_files.record_review
        self.plan_of = self.case_files.plan_of
        # Supervising it, once finished (督导).
        self.supervise = self.supervision.review
        self.supervision_of = self.supervision.reviews
        self.tasks = self.case_files.tasks
        self.task_done = self.case_files.task_done
        self.volunteers_for = self.case_files.volunteers_for
        self.goal = self.case_files.goal
        # Reading it.
        self.view = self.reading.view
        self.status = self.reading.status
        self.by_reference = self.reading.by_reference
        self.readable_by_reference = self.reading.readable_by_reference
        self.reported_by = self.reading.reported_by
        self.awaiting_rating = self.reading.awaiting_rating
        self.queue = self.reading.queue
        self.mine = self.reading.mine

    @property
    def database(self) -> UnitOfWork:
        return self.core.database

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def policy(self) -> DeadlinePolicy:
        return self.core.policy

    @property
    def timezone(self) -> tzinfo:
        """The local time zone: the day in a ticket reference, the hours of the on-call list."""
        return self.core.timezone

    def today(self) -> date:
        """The local date now: what a date someone gives is counted from."""
        return self.core.clock.now().astimezone(self.core.timezone).date()

    @property
    def follow_ups(self) -> FollowUps:
        return self.core.follow_ups
