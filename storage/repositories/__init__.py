"""Repositories: typed data access that speaks in domain records, one ``Transaction`` per operation.

One module per aggregate; ``Transaction`` holds one of each, all sharing one session."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.repositories.agency_reviews import AgencyReviewRepository
from storage.repositories.areas import AreaRepository
from storage.repositories.case_files import CaseFileRepository
from storage.repositories.consents import ConsentRepository
from storage.repositories.evaluation import EvaluationRepository
from storage.repositories.groups import WorkerGroupRepository
from storage.repositories.households import HouseholdRepository
from storage.repositories.invites import InviteRepository
from storage.repositories.leases import LeaseRepository
from storage.repositories.on_call import OnCallRepository
from storage.repositories.organisations import OrganisationRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.outgoing import Outgoing, OutgoingRepository
from storage.repositories.people import PersonRepository
from storage.repositories.reports import NeedReportRepository
from storage.repositories.staff import StaffAccessRepository
from storage.repositories.tickets import TicketRepository
from storage.repositories.updates import ProcessedUpdateRepository


class Transaction:
    """The repositories of one unit of work, all sharing one session and one database transaction."""

    def __init__(
        self, session: AsyncSession, dialect: str, connection: AsyncConnection | None = None
    ) -> None:
        self.session = session
        # Core statements on ``connection`` when given (the session joined to its transaction),
        # through the session otherwise.
        self.core: AsyncConnection | AsyncSession = connection if connection is not None else session
        core = self.core
        self.areas = AreaRepository(session, dialect, core)
        self.organisations = OrganisationRepository(session, dialect, core)
        self.people = PersonRepository(session, dialect, core)
        self.households = HouseholdRepository(session, dialect, core)
        self.case_files = CaseFileRepository(session, dialect, core)
        self.agency_reviews = AgencyReviewRepository(session, dialect, core)
        self.evaluation = EvaluationRepository(session, dialect, core)
        self.reports = NeedReportRepository(session, dialect, core)
        self.tickets = TicketRepository(session, dialect, core)
        self.consents = ConsentRepository(session, dialect, core)
        self.invites = InviteRepository(session, dialect, core)
        self.updates = ProcessedUpdateRepository(session, dialect, core)
        self.outbox = OutboxRepository(session, dialect, core)
        self.outgoing = OutgoingRepository(session, dialect, core)
        self.groups = WorkerGroupRepository(session, dialect, core)
        self.on_call = OnCallRepository(session, dialect, core)
        self.leases = LeaseRepository(session, dialect, core)
        self.staff = StaffAccessRepository(session, dialect, core)


__all__ = ["Outgoing", "Transaction"]
