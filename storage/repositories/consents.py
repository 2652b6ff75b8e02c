"""Consents, answer by answer, with the notice version shown."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import (
    bindparam,
    distinct,
    func,
    insert,
    select,
    update,
)

from casework.domain import (
    Consent,
    ConsentPurpose,
)
from storage.models import ConsentRow
from storage.repositories.base import Repository, from_row


def _consent(row: ConsentRow) -> Consent:
    return from_row(Consent, row)


_consents = ConsentRow.__table__
_PURPOSES_ANSWERED = select(func.count(distinct(_consents.c.purpose))).where(
    _consents.c.person_id == bindparam("person_id"),
    _consents.c.purpose.in_(bindparam("purposes", expanding=True)),
)


class ConsentRepository(Repository):
    async def grant(
        self, *, person_id: int, purpose: ConsentPurpose, notice_version: str, now: datetime
    ) -> Consent:
        """Record consent; an active consent for the same purpose is withdrawn first, then granted anew
        (``record`` with one answer). Returns the consent as kept."""
        await self.record(
            person_id=person_id, answers={purpose: True}, notice_version=notice_version, now=now
        )
        return (await self.active(person_id))[purpose]

    async def record(
        self,
        *,
        person_id: int,
        answers: Mapping[ConsentPurpose, bool],
        notice_version: str,
        now: datetime,
    ) -> None:
        """Each answer as a consent given now, a refusal as one withdrawn the moment it was given (the
        record shows the question was put and declined); what was active for these purposes is
        withdrawn first. Two statements, however many answers."""
        if not answers:
            return
        await self._withdraw(person_id, list(answers), now)
        await self._session.execute(
            insert(ConsentRow).execution_options(render_nulls=True),  # one batch, refusals and all
            [
                {
                    "person_id": person_id,
                    "purpose": purpose,
                    "notice_version": notice_version,
                    "granted_at": now,
                    "withdrawn_at": None if granted else now,
                }
                for purpose, granted in answers.items()
            ],
        )

    async def withdraw(self, *, person_id: int, purpose: ConsentPurpose, now: datetime) -> int:
        return await self._withdraw(person_id, [purpose], now)

    async def _withdraw(self, person_id: int, purposes: list[ConsentPurpose], now: datetime) -> int:
        result = await self._session.execute(
            update(ConsentRow)
            .where(
                ConsentRow.person_id == person_id,
                ConsentRow.purpose.in_(purposes),
                ConsentRow.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def active(self, person_id: int) -> dict[ConsentPurpose, Consent]:
        rows = await self._session.scalars(
            select(ConsentRow).where(ConsentRow.person_id == person_id, ConsentRow.withdrawn_at.is_(None))
        )
        return {row.purpose: _consent(row) for row in rows}

    async def purposes_answered(self, person_id: int, purposes: Iterable[ConsentPurpose]) -> int:
        """For how many of these purposes the person answered the consent question (a consent granted
        or refused is kept, withdrawn or not)."""
        given = {"person_id": person_id, "purposes": [purpose.value for purpose in purposes]}
        return int(await self._session.scalar(_PURPOSES_ANSWERED, given) or 0)

    async def history(self, person_id: int) -> list[Consent]:
        rows = await self._session.scalars(
            select(ConsentRow).where(ConsentRow.person_id == person_id).order_by(ConsentRow.id)
        )
        return [_consent(row) for row in rows]
