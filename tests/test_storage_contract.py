"""The storage contract: every repository behaves the same on SQLite and on PostgreSQL.

Each test takes the ``database`` fixture, which is parametrised over both engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import IntegrityError, StatementError

from casework.domain import (
    AlertKind,
    Area,
    AreaLevel,
    Channel,
    Conflict,
    ConsentPurpose,
    Identity,
    OutboxStatus,
    Person,
    ReferralStatus,
    Role,
    ServiceType,
    Ticket,
    TicketAction,
    TicketStatus,
    Urgency,
    VulnerabilityTag,
)
from storage import Database
from storage.models import AreaRow, OrganisationRow, OutboxRow, TicketRow
from storage.repositories import Transaction
from tests.reports import store_report

BEIJING = timezone(timedelta(hours=8))
NOTICE = AlertKind.DIALOG_MESSAGE  # the kind of the alerts these tests queue: the store keeps any


@dataclass(frozen=True)
class Tree:
    """District → two streets → communities, plus a second district on its own."""

    district: Area
    street: Area
    community: Area
    other_community: Area
    other_street: Area
    far_community: Area
    other_district: Area


async def _tree(tx: Transaction) -> Tree:
    district = await tx.areas.add(code="D1", name="黄浦区", name_en="Huangpu", level=AreaLevel.DISTRICT)
    street = await tx.areas.add(
        code="D1-S1", name="南京东路街道", level=AreaLevel.STREET, parent_id=district.id
    )
    community = await tx.areas.add(
        code="D1-S1-C1", name="贵州居委", level=AreaLevel.COMMUNITY, parent_id=street.id
    )
    other_community = await tx.areas.add(
        code="D1-S1-C2", name="云南居委", level=AreaLevel.COMMUNITY, parent_id=street.id
    )
    other_street = await tx.areas.add(
        code="D1-S2", name="外滩街道", level=AreaLevel.STREET, parent_id=district.id
    )
    far_community = await tx.areas.add(
        code="D1-S2-C1", name="中山居委", level=AreaLevel.COMMUNITY, parent_id=other_street.id
    )
    other_district = await tx.areas.add(code="D2", name="静安区", level=AreaLevel.DISTRICT)
    return Tree(district, street, community, other_community, other_street, far_community, other_district)


async def _community(tx: Transaction) -> Area:
    district = await tx.areas.add(code="D9", name="区", level=AreaLevel.DISTRICT)
    street = await tx.areas.add(code="D9-S1", name="街道", level=AreaLevel.STREET, parent_id=district.id)
    return await tx.areas.add(code="D9-S1-C1", name="社区", level=AreaLevel.COMMUNITY, parent_id=street.id)


async def _open_ticket(
    tx: Transaction,
    *,
    area_id: int,
    now: datetime,
    service_type: ServiceType = ServiceType.RESOURCE_LINKING,
    household_id: int | None = None,
    reporter_id: int | None = None,
    summary: str = "",
) -> Ticket:
    reference = await tx.tickets.next_reference(now.date())
    return await tx.tickets.add(
        reference=reference,
        service_type=service_type,
        urgency=Urgency.NORMAL,
        area_id=area_id,
        now=now,
        summary=summary,
        household_id=household_id,
        reporter_id=reporter_id,
    )


def telegram(user_id: int) -> Identity:
    """A Telegram account, as its user is found by it."""
    return Identity(Channel.TELEGRAM, str(user_id))


async def _worker(tx: Transaction, now: datetime, user_id: int, area_id: int) -> Person:
    return await tx.people.add(
        now=now,
        identity=telegram(user_id),
        display_name=f"社工{user_id}",
        role=Role.SOCIAL_WORKER,
        area_ids=[area_id],
        service_types=[ServiceType.RESOURCE_LINKING],
    )


def _is_utc(moment: datetime | None) -> bool:
    return moment is not None and moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


# --- areas ----------------------------------------------------------------------------------------


async def test_an_area_is_found_by_code_and_by_id(database: Database) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
    async with database.transaction() as tx:
        found = await tx.areas.by_code("D1")
        assert found == tree.district
        assert found.name == "黄浦区"
        assert found.name_en == "Huangpu"
        assert found.level is AreaLevel.DISTRICT
        assert found.parent_id is None
        assert await tx.areas.get(tree.community.id) == tree.community
        assert tree.community.level is AreaLevel.COMMUNITY
        assert tree.community.parent_id == tree.street.id
        assert await tx.areas.by_code("nowhere") is None
        assert await tx.areas.get(999_999) is None


async def test_children_are_the_direct_children_and_none_gives_the_roots(database: Database) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
    async with database.transaction() as tx:
        assert await tx.areas.children(tree.district.id) == [tree.street, tree.other_street]
        assert await tx.areas.children(tree.street.id) == [tree.community, tree.other_community]
        assert await tx.areas.children(tree.community.id) == []
        assert await tx.areas.children(None) == [tree.district, tree.other_district]


async def test_ancestors_start_with_the_area_itself_and_end_at_the_root(database: Database) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
    async with database.transaction() as tx:
        assert await tx.areas.ancestors(tree.community.id) == [tree.community, tree.street, tree.district]
        assert await tx.areas.ancestors(tree.district.id) == [tree.district]
        assert await tx.areas.ancestors(999_999) == []


async def test_descendant_ids_cover_the_area_and_its_whole_subtree_only(database: Database) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
    async with database.transaction() as tx:
        assert await tx.areas.descendant_ids(tree.district.id) == {
            tree.district.id,
            tree.street.id,
            tree.community.id,
            tree.other_community.id,
            tree.other_street.id,
            tree.far_community.id,
        }
        assert await tx.areas.descendant_ids(tree.street.id) == {
            tree.street.id,
            tree.community.id,
            tree.other_community.id,
        }
        assert await tx.areas.descendant_ids(tree.community.id) == {tree.community.id}
        assert await tx.areas.descendant_ids(tree.other_district.id) == {tree.other_district.id}


async def test_a_duplicate_area_code_is_a_conflict_and_the_transaction_goes_on(database: Database) -> None:
    async with database.transaction() as tx:
        first = await tx.areas.add(code="D1", name="黄浦区", level=AreaLevel.DISTRICT)
        with pytest.raises(Conflict):
            await tx.areas.add(code="D1", name="重复", level=AreaLevel.DISTRICT)
        after = await tx.areas.add(code="D2", name="静安区", level=AreaLevel.DISTRICT)
        assert await tx.areas.by_code("D1") == first
    async with database.transaction() as tx:
        assert await tx.areas.count() == 2
        assert await tx.areas.by_code("D1") == first
        assert await tx.areas.by_code("D2") == after


async def test_a_duplicate_area_code_in_a_later_transaction_is_a_conflict(database: Database) -> None:
    async with database.transaction() as tx:
        await tx.areas.add(code="D1", name="黄浦区", level=AreaLevel.DISTRICT)
    async with database.transaction() as tx:
        with pytest.raises(Conflict):
            await tx.areas.add(code="D1", name="重复", level=AreaLevel.DISTRICT)
        await tx.areas.add(code="D3", name="徐汇区", level=AreaLevel.DISTRICT)
    async with database.transaction() as tx:
        assert await tx.areas.count() == 2
        area = await tx.areas.by_code("D1")
        assert area is not None
        assert area.name == "黄浦区"


async def test_a_refused_duplicate_area_does_not_undo_earlier_work_of_the_transaction(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        await tx.areas.add(code="D1", name="黄浦区", level=AreaLevel.DISTRICT)
    async with database.transaction() as tx:
        await tx.areas.add(code="D2", name="静安区", level=AreaLevel.DISTRICT)
        await tx.people.add(now=now, identity=telegram(42))
        with pytest.raises(Conflict):
            await tx.areas.add(code="D1", name="重复", level=AreaLevel.DISTRICT)
    async with database.transaction() as tx:
        assert [area.code for area in await tx.areas.list_all()] == ["D1", "D2"]
        assert await tx.people.by_identity(Channel.TELEGRAM, "42") is not None


async def test_upsert_creates_an_area_then_updates_it_in_place(database: Database) -> None:
    async with database.transaction() as tx:
        district = await tx.areas.add(code="D1", name="黄浦区", level=AreaLevel.DISTRICT)
        created, was_created = await tx.areas.upsert(
            code="D1-S1", name="旧名", name_en="Old", level=AreaLevel.STREET, parent_id=district.id
        )
        assert was_created is True
        assert created.name == "旧名"
    async with database.transaction() as tx:
        updated, was_created = await tx.areas.upsert(
            code="D1-S1", name="新名", name_en="New", level=AreaLevel.STREET, parent_id=district.id
        )
        assert was_created is False
        assert updated.id == created.id
        assert (updated.name, updated.name_en) == ("新名", "New")
    async with database.transaction() as tx:
        assert await tx.areas.by_code("D1-S1") == updated
        assert await tx.areas.count() == 2


# --- organisations --------------------------------------------------------------------------------


async def test_an_organisation_round_trips_with_its_service_types_and_areas(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
        added = await tx.organisations.add(
            name="阳光社工事务所",
            now=now,
            contact="021-12345678",
            service_types=[ServiceType.PSYCHOLOGICAL_SUPPORT, ServiceType.RESOURCE_LINKING],
            area_ids=[tree.street.id, tree.community.id],
        )
        assert added.service_types == frozenset(
            {ServiceType.PSYCHOLOGICAL_SUPPORT, ServiceType.RESOURCE_LINKING}
        )
        assert added.area_ids == frozenset({tree.street.id, tree.community.id})
    async with database.transaction() as tx:
        loaded = await tx.organisations.get(added.id)
        assert loaded == added
        assert loaded.name == "阳光社工事务所"
        assert loaded.contact == "021-12345678"
        assert loaded.active is True
        assert isinstance(loaded.service_types, frozenset)
        assert isinstance(loaded.area_ids, frozenset)
        assert await tx.organisations.by_name("阳光社工事务所") == added
        assert await tx.organisations.get(999_999) is None


async def test_a_second_organisation_with_the_same_name_is_a_conflict(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        await tx.organisations.add(name="阳光社工事务所", now=now)
    async with database.transaction() as tx:
        with pytest.raises(Conflict):
            await tx.organisations.add(name="阳光社工事务所", now=now)
        await tx.organisations.add(name="另一家机构", now=now)
    async with database.transaction() as tx:
        assert await tx.organisations.count() == 2


async def test_list_all_can_leave_out_inactive_organisations(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        active = await tx.organisations.add(name="在营机构", now=now)
        closed = await tx.organisations.add(name="停业机构", now=now)
        await tx.session.execute(
            update(OrganisationRow).where(OrganisationRow.id == closed.id).values(active=False)
        )
    async with database.transaction() as tx:
        everything = await tx.organisations.list_all()
        assert [organisation.id for organisation in everything] == [active.id, closed.id]
        assert [organisation.active for organisation in everything] == [True, False]
        assert [organisation.id for organisation in await tx.organisations.list_all(active_only=True)] == [
            active.id
        ]


# --- people ---------------------------------------------------------------------------------------


async def test_a_person_round_trips_with_areas_and_service_types_as_frozensets(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
        organisation = await tx.organisations.add(name="阳光社工事务所", now=now)
        added = await tx.people.add(
            now=now,
            identity=telegram(9_000_000_001),
            display_name="王社工",
            language="en",
            role=Role.SOCIAL_WORKER,
            organisation_id=organisation.id,
            area_ids=[tree.street.id, tree.community.id],
            service_types=[ServiceType.CAPACITY_BUILDING, ServiceType.SOCIAL_INTEGRATION],
            phone="13800000000",
        )
    async with database.transaction() as tx:
        loaded = await tx.people.get(added.id)
        assert loaded == added
        assert loaded.identities == (telegram(9_000_000_001),)
        assert loaded.display_name == "王社工"
        assert loaded.language == "en"
        assert loaded.role is Role.SOCIAL_WORKER
        assert loaded.organisation_id == organisation.id
        assert loaded.phone == "13800000000"
        assert loaded.active is True
        assert loaded.created_at == now
        assert _is_utc(loaded.created_at)
        assert isinstance(loaded.area_ids, frozenset)
        assert loaded.area_ids == frozenset({tree.street.id, tree.community.id})
        assert isinstance(loaded.service_types, frozenset)
        assert loaded.service_types == frozenset(
            {ServiceType.CAPACITY_BUILDING, ServiceType.SOCIAL_INTEGRATION}
        )
        assert await tx.people.get(999_999) is None


async def test_a_person_is_found_by_their_account_on_a_channel(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        person = await tx.people.add(now=now, identity=telegram(42), display_name="李阿姨")
        await tx.people.add(now=now, identity=telegram(43), display_name="张先生")
        demo = await tx.people.add(now=now, identity=Identity(Channel.CONSOLE, "42"), display_name="演示")
    async with database.transaction() as tx:
        assert await tx.people.by_identity(Channel.TELEGRAM, "42") == person
        assert await tx.people.by_identity(Channel.TELEGRAM, "44") is None
        # The same id on another channel is another account, and another person's.
        assert await tx.people.by_identity(Channel.CONSOLE, "42") == demo
        assert await tx.people.by_identity(Channel.CONSOLE, "43") is None


async def test_a_person_may_have_an_account_on_each_channel_found_by_either(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        person = await tx.people.add(now=now, identity=telegram(42), display_name="李阿姨")
        other = await tx.people.add(now=now, identity=Identity(Channel.CONSOLE, "7"))
    async with database.transaction() as tx:
        both = await tx.people.add_identity(person.id, Identity(Channel.CONSOLE, "900001"), now=now)
        assert both.identities == (telegram(42), Identity(Channel.CONSOLE, "900001"))
        assert both.identity_on(Channel.CONSOLE) == Identity(Channel.CONSOLE, "900001")
        with pytest.raises(Conflict):  # one account a channel
            await tx.people.add_identity(person.id, Identity(Channel.CONSOLE, "900002"), now=now)
        with pytest.raises(Conflict):  # someone else's account
            await tx.people.add_identity(other.id, telegram(42), now=now)
        # in the order the channels are listed, whichever came first
        other = await tx.people.add_identity(other.id, telegram(44), now=now)
        assert other.identities == (telegram(44), Identity(Channel.CONSOLE, "7"))
    async with database.transaction() as tx:
        assert await tx.people.by_identity(Channel.TELEGRAM, "42") == both
        assert await tx.people.by_identity(Channel.CONSOLE, "900001") == both
        assert await tx.people.get(person.id) == both
        assert await tx.people.by_identity(Channel.CONSOLE, "7") == other
        assert await tx.people.find() == [both, other]


async def test_a_telegram_account_cannot_be_registered_twice(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        first = await tx.people.add(now=now, identity=telegram(42), display_name="李阿姨")
    async with database.transaction() as tx:
        with pytest.raises(Conflict):
            await tx.people.add(now=now, identity=telegram(42), display_name="冒名")
        # People without a Telegram account never clash with one another.
        await tx.people.add(now=now, display_name="电话登记一")
        await tx.people.add(now=now, display_name="电话登记二")
    async with database.transaction() as tx:
        assert await tx.people.by_identity(Channel.TELEGRAM, "42") == first
        assert len(await tx.people.find()) == 3


async def test_update_changes_only_the_fields_given(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        organisation = await tx.organisations.add(name="阳光社工事务所", now=now)
        person = await tx.people.add(now=now, identity=telegram(42), display_name="李阿姨", phone="111")
    async with database.transaction() as tx:
        updated = await tx.people.update(
            person.id, display_name="李华", role=Role.VOLUNTEER, organisation_id=organisation.id
        )
        assert updated.display_name == "李华"
        assert updated.role is Role.VOLUNTEER
        assert updated.organisation_id == organisation.id
        assert updated.phone == "111"
        assert updated.language == "zh"
        assert updated.active is True
    async with database.transaction() as tx:
        assert await tx.people.get(person.id) == updated
        deactivated = await tx.people.update(person.id, active=False, language="en", phone="222")
        assert (deactivated.active, deactivated.language, deactivated.phone) == (False, "en", "222")
        assert deactivated.display_name == "李华"
    async with database.transaction() as tx:
        assert await tx.people.get(person.id) == deactivated


async def test_set_areas_replaces_the_areas_of_a_person(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
        person = await _worker(tx, now, 42, tree.community.id)
        assert person.area_ids == frozenset({tree.community.id})
    async with database.transaction() as tx:
        moved = await tx.people.set_areas(person.id, [tree.other_street.id, tree.far_community.id])
        assert moved.area_ids == frozenset({tree.other_street.id, tree.far_community.id})
    async with database.transaction() as tx:
        loaded = await tx.people.get(person.id)
        assert loaded is not None
        assert loaded.area_ids == frozenset({tree.other_street.id, tree.far_community.id})
        assert loaded.service_types == frozenset({ServiceType.RESOURCE_LINKING})
        cleared = await tx.people.set_areas(person.id, [])
        assert cleared.area_ids == frozenset()


async def test_people_are_found_by_role_and_by_area(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
        here = await _worker(tx, now, 1, tree.community.id)
        there = await _worker(tx, now, 2, tree.far_community.id)
        volunteer = await tx.people.add(
            now=now, identity=telegram(3), role=Role.VOLUNTEER, area_ids=[tree.community.id]
        )
        retired = await _worker(tx, now, 4, tree.community.id)
        await tx.people.update(retired.id, active=False)
    async with database.transaction() as tx:
        workers = await tx.people.find(role=Role.SOCIAL_WORKER)
        assert [person.id for person in workers] == [here.id, there.id]
        in_community = await tx.people.find(area_ids=[tree.community.id])
        assert [person.id for person in in_community] == [here.id, volunteer.id]
        workers_in_community = await tx.people.find(role=Role.SOCIAL_WORKER, area_ids=[tree.community.id])
        assert [person.id for person in workers_in_community] == [here.id]
        either = await tx.people.find(
            role=Role.SOCIAL_WORKER, area_ids=[tree.community.id, tree.far_community.id]
        )
        assert [person.id for person in either] == [here.id, there.id]
        with_inactive = await tx.people.find(role=Role.SOCIAL_WORKER, active_only=False)
        assert [person.id for person in with_inactive] == [here.id, there.id, retired.id]
        assert await tx.people.find(role=Role.ADMIN) == []
        assert await tx.people.find(area_ids=[tree.other_district.id]) == []


async def test_erasing_a_person_blanks_what_identifies_them_and_deactivates_them(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        person = await tx.people.add(
            now=now,
            identity=telegram(42),
            display_name="李阿姨",
            phone="13800000000",
            area_ids=[area.id],
            service_types=[ServiceType.RESOURCE_LINKING],
        )
    async with database.transaction() as tx:
        await tx.people.erase(person.id, now + timedelta(days=1))
    async with database.transaction() as tx:
        erased = await tx.people.get(person.id)
        assert erased is not None
        assert erased.display_name == ""
        assert erased.phone is None
        assert erased.identities == ()
        assert erased.active is False
        assert erased.area_ids == frozenset()
        assert await tx.people.by_identity(Channel.TELEGRAM, "42") is None
        assert await tx.people.find(area_ids=[area.id]) == []
        # The Telegram account is free to register afresh.
        again = await tx.people.add(now=now, identity=telegram(42), display_name="新用户")
        assert again.id != person.id


# --- households -----------------------------------------------------------------------------------


async def test_a_household_round_trips_with_its_vulnerability_tags(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        added = await tx.households.add(
            area_id=area.id,
            now=now,
            address="贵州路 12 号 3 楼",
            size=3,
            vulnerability_tags=[VulnerabilityTag.ELDER_ALONE, VulnerabilityTag.DISABILITY],
        )
        plain = await tx.households.add(area_id=area.id, now=now)
    async with database.transaction() as tx:
        loaded = await tx.households.get(added.id)
        assert loaded == added
        assert loaded.address == "贵州路 12 号 3 楼"
        assert loaded.size == 3
        assert loaded.vulnerability_tags == frozenset(
            {VulnerabilityTag.ELDER_ALONE, VulnerabilityTag.DISABILITY}
        )
        assert all(isinstance(tag, VulnerabilityTag) for tag in loaded.vulnerability_tags)
        assert loaded.created_at == now
        again = await tx.households.get(plain.id)
        assert again is not None
        assert again.size is None
        assert again.vulnerability_tags == frozenset()
        assert await tx.households.in_area(area.id) == [added, plain]


@pytest.mark.parametrize("size", [0, -1, 100])
async def test_a_household_size_outside_1_to_99_is_refused_by_the_database(
    database: Database, now: datetime, size: int
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        smallest = await tx.households.add(area_id=area.id, now=now, size=1)
        largest = await tx.households.add(area_id=area.id, now=now, size=99)
    with pytest.raises(IntegrityError):
        async with database.transaction() as tx:
            await tx.households.add(area_id=area.id, now=now, size=size)
    async with database.transaction() as tx:
        assert await tx.households.in_area(area.id) == [smallest, largest]


# --- need reports ---------------------------------------------------------------------------------


async def test_a_need_report_round_trips(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        reporter = await tx.people.add(now=now, identity=telegram(42), role=Role.VOLUNTEER)
        household = await tx.households.add(area_id=area.id, now=now)
        added = await tx.reports.add(
            text="楼下独居老人好几天没出门了",
            language="zh",
            intent="flag_household",
            confidence=0.87,
            urgency=Urgency.HIGH,
            channel=Channel.TELEGRAM,
            now=now,
            service_type=ServiceType.SOCIAL_INTEGRATION,
            reporter_id=reporter.id,
            household_id=household.id,
            on_behalf=True,
        )
    async with database.transaction() as tx:
        loaded = await tx.reports.get(added.id)
        assert loaded == added
        assert loaded.text == "楼下独居老人好几天没出门了"
        assert loaded.intent == "flag_household"
        assert loaded.confidence == pytest.approx(0.87)
        assert loaded.urgency is Urgency.HIGH
        assert loaded.channel is Channel.TELEGRAM
        assert loaded.service_type is ServiceType.SOCIAL_INTEGRATION
        assert loaded.reporter_id == reporter.id
        assert loaded.household_id == household.id
        assert loaded.ticket_id is None
        assert loaded.on_behalf is True
        assert loaded.anonymous is False
        assert loaded.created_at == now
        assert await tx.reports.by_reporter(reporter.id) == [added]


async def test_an_anonymous_report_keeps_no_reporter(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        reporter = await tx.people.add(now=now, identity=telegram(42))
        added = await tx.reports.add(
            text="邻居家经常传来打骂声",
            language="zh",
            intent="flag_household",
            confidence=0.6,
            urgency=Urgency.CRITICAL,
            channel=Channel.CONSOLE,
            now=now,
            reporter_id=reporter.id,
            anonymous=True,
        )
        assert added.reporter_id is None
    async with database.transaction() as tx:
        loaded = await tx.reports.get(added.id)
        assert loaded is not None
        assert loaded.reporter_id is None
        assert loaded.anonymous is True
        assert loaded.service_type is None
        assert await tx.reports.by_reporter(reporter.id) == []


async def test_reports_attached_to_a_ticket_are_listed_for_it(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        other = await _open_ticket(tx, area_id=area.id, now=now)
        reports = [
            await store_report(tx, now, text=f"第{n}条", ticket_id=ticket_id)
            for n, ticket_id in enumerate([ticket.id, other.id, ticket.id])
        ]
    async with database.transaction() as tx:
        attached = await tx.reports.for_ticket(ticket.id)
        assert [report.id for report in attached] == [reports[0].id, reports[2].id]
        assert all(report.ticket_id == ticket.id for report in attached)
        assert [report.id for report in await tx.reports.for_ticket(other.id)] == [reports[1].id]


async def test_redacting_a_reporter_blanks_the_words_of_their_reports_only(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        leaving = await tx.people.add(now=now, identity=telegram(42))
        staying = await tx.people.add(now=now, identity=telegram(43))
        theirs = [
            await store_report(
                tx,
                now,
                text=text,
                intent="need_psychological_support",
                confidence=0.8,
                service_type=ServiceType.PSYCHOLOGICAL_SUPPORT,
                reporter_id=leaving.id,
            )
            for text in ("我最近睡不着", "还是很焦虑")
        ]
        kept = await store_report(
            tx,
            now,
            text="我想找工作",
            intent="need_capacity_building",
            confidence=0.8,
            reporter_id=staying.id,
        )
    async with database.transaction() as tx:
        assert await tx.reports.redact_by_reporter(leaving.id) == 2
    async with database.transaction() as tx:
        for report in theirs:
            redacted = await tx.reports.get(report.id)
            assert redacted is not None
            assert redacted.text == ""
            assert redacted.reporter_id is None
            # The labels stay for statistics.
            assert redacted.intent == "need_psychological_support"
            assert redacted.service_type is ServiceType.PSYCHOLOGICAL_SUPPORT
        assert await tx.reports.by_reporter(leaving.id) == []
        assert await tx.reports.get(kept.id) == kept


# --- tickets: references --------------------------------------------------------------------------


async def test_ticket_references_count_up_within_a_day_and_restart_on_another_day(database: Database) -> None:
    day = date(2026, 11, 29)
    async with database.transaction() as tx:
        assert await tx.tickets.next_reference(day) == "SA-20261129-0001"
        assert await tx.tickets.next_reference(day) == "SA-20261129-0002"
    async with database.transaction() as tx:
        assert await tx.tickets.next_reference(day) == "SA-20261129-0003"
        assert await tx.tickets.next_reference(date(2026, 11, 30)) == "SA-20261130-0001"
        assert await tx.tickets.next_reference(day) == "SA-20261129-0004"
        assert await tx.tickets.next_reference(date(2027, 1, 2)) == "SA-20270102-0001"


async def test_a_rolled_back_reference_is_handed_out_again(database: Database) -> None:
    day = date(2026, 11, 29)

    async def open_and_fail() -> None:
        async with database.transaction() as tx:
            assert await tx.tickets.next_reference(day) == "SA-20261129-0001"
            raise RuntimeError("opening failed")

    with pytest.raises(RuntimeError):
        await open_and_fail()
    async with database.transaction() as tx:
        assert await tx.tickets.next_reference(day) == "SA-20261129-0001"


async def test_twenty_concurrent_transactions_get_twenty_distinct_references(database: Database) -> None:
    day = date(2026, 11, 29)

    async def allocate() -> str:
        async with database.transaction() as tx:
            return await tx.tickets.next_reference(day)

    references = await asyncio.gather(*(allocate() for _ in range(20)))
    assert len(set(references)) == 20
    assert sorted(references) == [f"SA-20261129-{n:04d}" for n in range(1, 21)]
    async with database.transaction() as tx:
        assert await tx.tickets.next_reference(day) == "SA-20261129-0021"


# --- tickets: records -----------------------------------------------------------------------------


async def test_a_ticket_round_trips_through_get_and_by_reference(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        reporter = await tx.people.add(now=now, identity=telegram(42))
        household = await tx.households.add(area_id=area.id, now=now)
        reference = await tx.tickets.next_reference(now.date())
        added = await tx.tickets.add(
            reference=reference,
            service_type=ServiceType.PSYCHOLOGICAL_SUPPORT,
            urgency=Urgency.HIGH,
            area_id=area.id,
            now=now,
            summary="丧偶后情绪低落",
            household_id=household.id,
            reporter_id=reporter.id,
            claim_deadline=now + timedelta(hours=4),
            resolve_deadline=now + timedelta(days=3),
        )
    assert added.reference == "SA-20261129-0001"
    assert added.status is TicketStatus.NEW
    assert added.is_open
    async with database.transaction() as tx:
        loaded = await tx.tickets.get(added.id)
        assert loaded == added
        assert loaded.service_type is ServiceType.PSYCHOLOGICAL_SUPPORT
        assert loaded.urgency is Urgency.HIGH
        assert loaded.summary == "丧偶后情绪低落"
        assert loaded.household_id == household.id
        assert loaded.reporter_id == reporter.id
        assert loaded.assignee_id is None
        assert loaded.outcome is None
        assert await tx.tickets.by_reference("SA-20261129-0001") == added
        assert await tx.tickets.by_reference("  sa-20261129-0001 ") == added
        assert await tx.tickets.by_reference("SA-20261129-0002") is None
        assert await tx.tickets.get(999_999) is None


async def test_ticket_datetimes_come_back_timezone_aware_in_utc_and_unchanged(
    database: Database, now: datetime
) -> None:
    created = now.astimezone(BEIJING)
    claim_deadline = datetime(2026, 11, 29, 14, 30, 15, 123456, tzinfo=BEIJING)
    resolve_deadline = datetime(2026, 12, 2, 6, 0, 0, 500, tzinfo=UTC)
    async with database.transaction() as tx:
        area = await _community(tx)
        reference = await tx.tickets.next_reference(now.date())
        added = await tx.tickets.add(
            reference=reference,
            service_type=ServiceType.RESOURCE_LINKING,
            urgency=Urgency.NORMAL,
            area_id=area.id,
            now=created,
            claim_deadline=claim_deadline,
            resolve_deadline=resolve_deadline,
        )
    async with database.transaction() as tx:
        loaded = await tx.tickets.get(added.id)
        assert loaded is not None
        for value in (loaded.created_at, loaded.updated_at, loaded.claim_deadline, loaded.resolve_deadline):
            assert _is_utc(value), value
        assert loaded.created_at == now
        assert loaded.updated_at == now
        assert loaded.claim_deadline == claim_deadline
        assert loaded.claim_deadline == datetime(2026, 11, 29, 6, 30, 15, 123456, tzinfo=UTC)
        assert loaded.resolve_deadline == resolve_deadline
        assert loaded.resolved_at is None


async def test_a_naive_datetime_is_refused(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)

    async def open_with_a_naive_time() -> None:
        async with database.transaction() as tx:
            reference = await tx.tickets.next_reference(now.date())
            await tx.tickets.add(
                reference=reference,
                service_type=ServiceType.RESOURCE_LINKING,
                urgency=Urgency.NORMAL,
                area_id=area.id,
                now=now.replace(tzinfo=None),
            )

    with pytest.raises(StatementError, match="naive datetime"):
        await open_with_a_naive_time()
    async with database.transaction() as tx:
        assert await tx.tickets.find() == []


# --- tickets: transitions -------------------------------------------------------------------------


async def test_a_transition_sets_the_status_and_its_timestamp(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        worker = await _worker(tx, now, 42, area.id)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
    claimed_at = now + timedelta(minutes=10)
    resolved_at = now + timedelta(days=1)
    async with database.transaction() as tx:
        claimed = await tx.tickets.transition(
            ticket.id,
            to_status=TicketStatus.ASSIGNED,
            now=claimed_at,
            expected=[TicketStatus.NEW],
            assignee_id=worker.id,
        )
        assert claimed is not None
        assert claimed.status is TicketStatus.ASSIGNED
        assert claimed.assignee_id == worker.id
        assert claimed.updated_at == claimed_at
        assert claimed.created_at == now
    async with database.transaction() as tx:
        resolved = await tx.tickets.transition(
            ticket.id,
            to_status=TicketStatus.RESOLVED,
            now=resolved_at,
            expected=[TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS],
            outcome="已链接临时救助金",
        )
        assert resolved is not None
    async with database.transaction() as tx:
        loaded = await tx.tickets.get(ticket.id)
        assert loaded == resolved
        assert loaded.status is TicketStatus.RESOLVED
        assert not loaded.is_open
        assert loaded.resolved_at == resolved_at
        assert loaded.updated_at == resolved_at
        assert loaded.outcome == "已链接临时救助金"
        assert loaded.closed_at is None


@pytest.mark.parametrize(
    ("status", "stamp"),
    [
        (TicketStatus.ASSIGNED, None),
        (TicketStatus.IN_PROGRESS, None),
        (TicketStatus.REFERRED, None),
        (TicketStatus.RESOLVED, "resolved_at"),
        (TicketStatus.CLOSED, "closed_at"),
        (TicketStatus.REOPENED, None),
    ],
)
async def test_resolving_and_closing_keep_their_time_on_the_ticket(
    database: Database, now: datetime, status: TicketStatus, stamp: str | None
) -> None:
    """The other moves' times are on the trail only."""
    later = now + timedelta(hours=2)
    stamps = ("resolved_at", "closed_at")
    async with database.transaction() as tx:
        area = await _community(tx)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
    async with database.transaction() as tx:
        assert await tx.tickets.transition(ticket.id, to_status=status, now=later) is not None
    async with database.transaction() as tx:
        loaded = await tx.tickets.get(ticket.id)
        assert loaded is not None
        assert loaded.status is status
        assert {name: getattr(loaded, name) for name in stamps} == {
            name: (later if name == stamp else None) for name in stamps
        }


async def test_a_transition_from_an_unexpected_status_returns_none_and_changes_nothing(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
    async with database.transaction() as tx:
        refused = await tx.tickets.transition(
            ticket.id,
            to_status=TicketStatus.CLOSED,
            now=now + timedelta(hours=1),
            expected=[TicketStatus.RESOLVED],
            outcome="不该写入",
        )
        assert refused is None
    async with database.transaction() as tx:
        assert await tx.tickets.get(ticket.id) == ticket


async def test_a_transition_of_a_missing_ticket_returns_none(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        assert await tx.tickets.transition(999_999, to_status=TicketStatus.CLOSED, now=now) is None


async def test_the_second_claimer_of_an_unassigned_ticket_gets_none(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        first = await _worker(tx, now, 1, area.id)
        second = await _worker(tx, now, 2, area.id)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
    async with database.transaction() as tx:
        won = await tx.tickets.transition(
            ticket.id,
            to_status=TicketStatus.ASSIGNED,
            now=now,
            expected=[TicketStatus.NEW, TicketStatus.ASSIGNED],
            require_unassigned=True,
            assignee_id=first.id,
        )
        assert won is not None
        assert won.assignee_id == first.id
    async with database.transaction() as tx:
        lost = await tx.tickets.transition(
            ticket.id,
            to_status=TicketStatus.ASSIGNED,
            now=now + timedelta(minutes=1),
            expected=[TicketStatus.NEW, TicketStatus.ASSIGNED],
            require_unassigned=True,
            assignee_id=second.id,
        )
        assert lost is None
    async with database.transaction() as tx:
        loaded = await tx.tickets.get(ticket.id)
        assert loaded is not None
        assert loaded.assignee_id == first.id
        assert loaded.updated_at == now


async def test_a_transition_refuses_fields_it_does_not_own(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        with pytest.raises(ValueError, match="reference"):
            await tx.tickets.transition(ticket.id, to_status=TicketStatus.CLOSED, now=now, reference="SA-X")
        with pytest.raises(ValueError, match="created_at"):
            await tx.tickets.transition(ticket.id, to_status=TicketStatus.CLOSED, now=now, created_at=now)
    async with database.transaction() as tx:
        assert await tx.tickets.get(ticket.id) == ticket


async def test_a_transition_may_set_the_fields_it_owns(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        organisation = await tx.organisations.add(name="阳光社工事务所", now=now)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
    deadline = now + timedelta(hours=1)
    async with database.transaction() as tx:
        await tx.tickets.transition(
            ticket.id,
            to_status=TicketStatus.REFERRED,
            now=now,
            organisation_id=organisation.id,
            urgency=Urgency.CRITICAL,
            claim_deadline=deadline,
            resolve_deadline=deadline,
        )
    async with database.transaction() as tx:
        loaded = await tx.tickets.get(ticket.id)
        assert loaded is not None
        assert loaded.organisation_id == organisation.id
        assert loaded.urgency is Urgency.CRITICAL
        assert loaded.claim_deadline == deadline
        assert loaded.resolve_deadline == deadline


# --- tickets: queries -----------------------------------------------------------------------------


async def test_find_filters_tickets_by_status_area_service_type_reporter_and_assignee(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        tree = await _tree(tx)
        reporter = await tx.people.add(now=now, identity=telegram(100))
        worker = await _worker(tx, now, 200, tree.community.id)
        food = await _open_ticket(tx, area_id=tree.community.id, now=now, reporter_id=reporter.id)
        grief = await _open_ticket(
            tx,
            area_id=tree.community.id,
            now=now + timedelta(minutes=1),
            service_type=ServiceType.PSYCHOLOGICAL_SUPPORT,
        )
        jobs = await _open_ticket(
            tx,
            area_id=tree.far_community.id,
            now=now + timedelta(minutes=2),
            service_type=ServiceType.CAPACITY_BUILDING,
            reporter_id=reporter.id,
        )
        await tx.tickets.transition(grief.id, to_status=TicketStatus.ASSIGNED, now=now, assignee_id=worker.id)
        await tx.tickets.transition(jobs.id, to_status=TicketStatus.CLOSED, now=now)

    def ids(tickets: list[Ticket]) -> list[int]:
        return [ticket.id for ticket in tickets]

    async with database.transaction() as tx:
        assert ids(await tx.tickets.find()) == [food.id, grief.id, jobs.id]
        assert ids(await tx.tickets.find(statuses=[TicketStatus.NEW, TicketStatus.ASSIGNED])) == [
            food.id,
            grief.id,
        ]
        assert ids(await tx.tickets.find(statuses=[TicketStatus.CLOSED])) == [jobs.id]
        assert ids(await tx.tickets.find(statuses=[])) == []
        assert ids(await tx.tickets.find(area_ids=[tree.community.id])) == [food.id, grief.id]
        district_wide = await tx.areas.descendant_ids(tree.district.id)
        assert ids(await tx.tickets.find(area_ids=district_wide)) == [food.id, grief.id, jobs.id]
        assert ids(await tx.tickets.find(area_ids=[tree.other_district.id])) == []
        assert ids(await tx.tickets.find(service_types=[ServiceType.PSYCHOLOGICAL_SUPPORT])) == [grief.id]
        assert ids(
            await tx.tickets.find(service_types=[ServiceType.RESOURCE_LINKING, ServiceType.CAPACITY_BUILDING])
        ) == [food.id, jobs.id]
        assert ids(await tx.tickets.find(reporter_id=reporter.id)) == [food.id, jobs.id]
        assert ids(await tx.tickets.find(assignee_id=worker.id)) == [grief.id]
        assert ids(
            await tx.tickets.find(
                statuses=[TicketStatus.NEW], area_ids=[tree.community.id], reporter_id=reporter.id
            )
        ) == [food.id]
        assert ids(await tx.tickets.find(limit=2)) == [food.id, grief.id]


async def test_open_for_household_lists_only_its_open_tickets_since_the_given_time(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        household = await tx.households.add(area_id=area.id, now=now)
        neighbour = await tx.households.add(area_id=area.id, now=now)
        old = await _open_ticket(tx, area_id=area.id, now=now - timedelta(days=30), household_id=household.id)
        recent = await _open_ticket(tx, area_id=area.id, now=now, household_id=household.id)
        closed = await _open_ticket(tx, area_id=area.id, now=now, household_id=household.id)
        referred = await _open_ticket(tx, area_id=area.id, now=now, household_id=household.id)
        await _open_ticket(tx, area_id=area.id, now=now, household_id=neighbour.id)
        await tx.tickets.transition(closed.id, to_status=TicketStatus.CLOSED, now=now)
        await tx.tickets.transition(referred.id, to_status=TicketStatus.REFERRED, now=now)
    async with database.transaction() as tx:
        found = await tx.tickets.open_for_household(household.id, now - timedelta(days=7))
        assert [ticket.id for ticket in found] == [recent.id, referred.id]
        everything = await tx.tickets.open_for_household(household.id, now - timedelta(days=60))
        assert [ticket.id for ticket in everything] == [old.id, recent.id, referred.id]


async def test_ticket_events_are_appended_and_listed_in_order(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        worker = await _worker(tx, now, 42, area.id)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        other = await _open_ticket(tx, area_id=area.id, now=now)
        opened = await tx.tickets.add_event(
            ticket_id=ticket.id, action=TicketAction.OPENED, now=now, to_status=TicketStatus.NEW
        )
        claimed = await tx.tickets.add_event(
            ticket_id=ticket.id,
            action=TicketAction.CLAIMED,
            now=now + timedelta(minutes=5),
            actor_id=worker.id,
            from_status=TicketStatus.NEW,
            to_status=TicketStatus.ASSIGNED,
        )
        await tx.tickets.add_event(ticket_id=other.id, action=TicketAction.OPENED, now=now)
    async with database.transaction() as tx:
        assert await tx.tickets.events(ticket.id) == [opened, claimed]
        # An event stamped earlier still comes after the ones already recorded.
        noted = await tx.tickets.add_event(
            ticket_id=ticket.id,
            action=TicketAction.NOTE,
            now=now - timedelta(hours=1),
            actor_id=worker.id,
            note="已电话联系",
        )
    async with database.transaction() as tx:
        events = await tx.tickets.events(ticket.id)
        assert events == [opened, claimed, noted]
        assert [event.action for event in events] == [
            TicketAction.OPENED,
            TicketAction.CLAIMED,
            TicketAction.NOTE,
        ]
        assert events[1].from_status is TicketStatus.NEW
        assert events[1].to_status is TicketStatus.ASSIGNED
        assert events[1].actor_id == worker.id
        assert events[2].note == "已电话联系"
        assert events[2].from_status is None
        assert [event.created_at for event in events] == [
            now,
            now + timedelta(minutes=5),
            now - timedelta(hours=1),
        ]
        assert len(await tx.tickets.events(other.id)) == 1


# --- tickets: referrals and feedback --------------------------------------------------------------


async def test_a_referral_is_accepted_once_and_a_second_accept_returns_none(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        sender = await _worker(tx, now, 1, area.id)
        receiver = await _worker(tx, now, 2, area.id)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        referral = await tx.tickets.add_referral(
            ticket_id=ticket.id,
            now=now,
            from_person_id=sender.id,
            to_person_id=receiver.id,
            reason="需要心理咨询",
        )
        assert referral.status is ReferralStatus.PENDING
        assert referral.responded_at is None
    accepted_at = now + timedelta(hours=1)
    async with database.transaction() as tx:
        accepted = await tx.tickets.set_referral_status(
            referral.id, to_status=ReferralStatus.ACCEPTED, now=accepted_at, expected=[ReferralStatus.PENDING]
        )
        assert accepted is not None
        assert accepted.status is ReferralStatus.ACCEPTED
        assert accepted.responded_at == accepted_at
        assert accepted.reason == "需要心理咨询"
    async with database.transaction() as tx:
        again = await tx.tickets.set_referral_status(
            referral.id,
            to_status=ReferralStatus.ACCEPTED,
            now=accepted_at + timedelta(hours=1),
            expected=[ReferralStatus.PENDING],
        )
        assert again is None
        assert await tx.tickets.get_referral(referral.id) == accepted
    completed_at = now + timedelta(days=2)
    async with database.transaction() as tx:
        completed = await tx.tickets.set_referral_status(
            referral.id,
            to_status=ReferralStatus.COMPLETED,
            now=completed_at,
            expected=[ReferralStatus.ACCEPTED],
            outcome="已完成三次咨询",
        )
        assert completed is not None
    async with database.transaction() as tx:
        [loaded] = await tx.tickets.referrals(ticket.id)
        assert loaded == completed
        assert loaded.status is ReferralStatus.COMPLETED
        assert loaded.completed_at == completed_at
        assert loaded.responded_at == accepted_at
        assert loaded.outcome == "已完成三次咨询"
        assert loaded.from_person_id == sender.id
        assert loaded.to_person_id == receiver.id
        assert loaded.to_organisation_id is None


async def test_a_referral_to_an_organisation_can_be_declined(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        organisation = await tx.organisations.add(name="阳光社工事务所", now=now)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        first = await tx.tickets.add_referral(
            ticket_id=ticket.id, now=now, to_organisation_id=organisation.id
        )
        second = await tx.tickets.add_referral(
            ticket_id=ticket.id, now=now, to_organisation_id=organisation.id
        )
        declined = await tx.tickets.set_referral_status(
            first.id,
            to_status=ReferralStatus.DECLINED,
            now=now,
            expected=[ReferralStatus.PENDING],
            reason="名额已满",
        )
        assert declined is not None
    async with database.transaction() as tx:
        referrals = await tx.tickets.referrals(ticket.id)
        assert [referral.id for referral in referrals] == [first.id, second.id]
        assert [referral.status for referral in referrals] == [
            ReferralStatus.DECLINED,
            ReferralStatus.PENDING,
        ]
        assert referrals[0].reason == "名额已满"
        assert referrals[0].responded_at == now


async def test_a_referral_with_no_target_is_refused(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        with pytest.raises(ValueError, match="person or an organisation"):
            await tx.tickets.add_referral(ticket_id=ticket.id, now=now)
        assert await tx.tickets.referrals(ticket.id) == []


@pytest.mark.parametrize("rating", [0, 6, -1])
async def test_a_rating_outside_1_to_5_is_refused(database: Database, now: datetime, rating: int) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        person = await tx.people.add(now=now, identity=telegram(42))
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        with pytest.raises(ValueError, match="1 to 5"):
            await tx.tickets.add_feedback(ticket_id=ticket.id, rating=rating, now=now, person_id=person.id)
        assert await tx.tickets.feedback(ticket.id) == []


async def test_a_second_rating_of_a_ticket_by_the_same_person_is_a_conflict(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        person = await tx.people.add(now=now, identity=telegram(42))
        other = await tx.people.add(now=now, identity=telegram(43))
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        first = await tx.tickets.add_feedback(
            ticket_id=ticket.id, rating=5, now=now, person_id=person.id, comment="很及时"
        )
    async with database.transaction() as tx:
        with pytest.raises(Conflict):
            await tx.tickets.add_feedback(ticket_id=ticket.id, rating=1, now=now, person_id=person.id)
        # The transaction is still usable after the refusal.
        second = await tx.tickets.add_feedback(ticket_id=ticket.id, rating=4, now=now, person_id=other.id)
    async with database.transaction() as tx:
        feedback = await tx.tickets.feedback(ticket.id)
        assert feedback == [first, second]
        assert (feedback[0].rating, feedback[0].comment) == (5, "很及时")


# --- consents -------------------------------------------------------------------------------------


async def test_consent_is_granted_listed_as_active_and_withdrawn(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        person = await tx.people.add(now=now, identity=telegram(42))
        granted = await tx.consents.grant(
            person_id=person.id, purpose=ConsentPurpose.STORE_REPORT, notice_version="2026-11", now=now
        )
        await tx.consents.grant(
            person_id=person.id, purpose=ConsentPurpose.CONTACT_ME, notice_version="2026-11", now=now
        )
    assert granted.active
    async with database.transaction() as tx:
        active = await tx.consents.active(person.id)
        assert set(active) == {ConsentPurpose.STORE_REPORT, ConsentPurpose.CONTACT_ME}
        assert active[ConsentPurpose.STORE_REPORT] == granted
    later = now + timedelta(days=3)
    async with database.transaction() as tx:
        assert (
            await tx.consents.withdraw(person_id=person.id, purpose=ConsentPurpose.STORE_REPORT, now=later)
            == 1
        )
        assert (
            await tx.consents.withdraw(person_id=person.id, purpose=ConsentPurpose.STORE_REPORT, now=later)
            == 0
        )
    async with database.transaction() as tx:
        assert set(await tx.consents.active(person.id)) == {ConsentPurpose.CONTACT_ME}
        [withdrawn] = [
            c for c in await tx.consents.history(person.id) if c.purpose is ConsentPurpose.STORE_REPORT
        ]
        assert withdrawn.withdrawn_at == later
        assert not withdrawn.active


async def test_granting_consent_again_supersedes_the_earlier_grant(database: Database, now: datetime) -> None:
    later = now + timedelta(days=30)
    async with database.transaction() as tx:
        person = await tx.people.add(now=now, identity=telegram(42))
        first = await tx.consents.grant(
            person_id=person.id, purpose=ConsentPurpose.SHARE_WITH_AGENCY, notice_version="v1", now=now
        )
    async with database.transaction() as tx:
        second = await tx.consents.grant(
            person_id=person.id, purpose=ConsentPurpose.SHARE_WITH_AGENCY, notice_version="v2", now=later
        )
    async with database.transaction() as tx:
        history = await tx.consents.history(person.id)
        assert [consent.id for consent in history] == [first.id, second.id]
        assert history[0].withdrawn_at == later
        assert history[1].withdrawn_at is None
        assert [consent.active for consent in history] == [False, True]
        active = await tx.consents.active(person.id)
        assert active == {ConsentPurpose.SHARE_WITH_AGENCY: second}


@contextlib.contextmanager
def sent_statements(database: Database) -> Iterator[list[str]]:
    """The SQL of every statement sent to the database inside the block, in order."""
    statements: list[str] = []

    def note(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", note)


async def test_answers_to_the_consent_questions_are_recorded_together(
    database: Database, now: datetime
) -> None:
    later = now + timedelta(days=1)
    async with database.transaction() as tx:
        person = await tx.people.add(now=now, identity=telegram(42))
        earlier = await tx.consents.grant(
            person_id=person.id, purpose=ConsentPurpose.CONTACT_ME, notice_version="v1", now=now
        )
    with sent_statements(database) as statements:
        async with database.transaction() as tx:
            answers = {
                ConsentPurpose.STORE_REPORT: True,
                ConsentPurpose.CONTACT_ME: False,
                ConsentPurpose.SHARE_WITH_AGENCY: True,
            }
            await tx.consents.record(person_id=person.id, answers=answers, notice_version="v2", now=later)
    # One statement withdraws what was active, one inserts every answer (a refusal with its own).
    assert len([s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]) == 2
    async with database.transaction() as tx:
        assert set(await tx.consents.active(person.id)) == {
            ConsentPurpose.STORE_REPORT,
            ConsentPurpose.SHARE_WITH_AGENCY,
        }
        history = await tx.consents.history(person.id)
    assert history[0].id == earlier.id
    assert history[0].withdrawn_at == later  # superseded by the new answer
    refused = [c for c in history[1:] if c.purpose is ConsentPurpose.CONTACT_ME]
    assert [(c.granted_at, c.withdrawn_at, c.notice_version) for c in refused] == [(later, later, "v2")]
    assert {c.notice_version for c in history[1:]} == {"v2"}


async def test_the_notice_version_of_a_consent_is_stored(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        person = await tx.people.add(now=now, identity=telegram(42))
        granted = await tx.consents.grant(
            person_id=person.id, purpose=ConsentPurpose.STORE_REPORT, notice_version="2026-11-29.b", now=now
        )
    async with database.transaction() as tx:
        [loaded] = await tx.consents.history(person.id)
        assert loaded == granted
        assert loaded.notice_version == "2026-11-29.b"
        assert loaded.granted_at == now
        assert loaded.person_id == person.id


# --- invites --------------------------------------------------------------------------------------


async def test_an_invite_is_found_by_its_code_hash(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        organisation = await tx.organisations.add(name="阳光社工事务所", now=now)
        added = await tx.invites.add(
            code_hash="a" * 64,
            role=Role.SOCIAL_WORKER,
            area_id=area.id,
            expires_at=now + timedelta(days=7),
            now=now,
            organisation_id=organisation.id,
        )
    async with database.transaction() as tx:
        loaded = await tx.invites.by_hash("a" * 64)
        assert loaded == added
        assert loaded.role is Role.SOCIAL_WORKER
        assert loaded.area_id == area.id
        assert loaded.organisation_id == organisation.id
        assert loaded.expires_at == now + timedelta(days=7)
        assert loaded.used_by_id is None
        assert await tx.invites.by_hash("b" * 64) is None


async def test_an_invite_can_be_redeemed_only_once(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        first = await tx.people.add(now=now, identity=telegram(1))
        second = await tx.people.add(now=now, identity=telegram(2))
        invite = await tx.invites.add(
            code_hash="c" * 64,
            role=Role.VOLUNTEER,
            area_id=area.id,
            expires_at=now + timedelta(days=1),
            now=now,
        )
    redeemed_at = now + timedelta(hours=1)
    async with database.transaction() as tx:
        assert await tx.invites.redeem(invite.id, person_id=first.id, now=redeemed_at) is True
    async with database.transaction() as tx:
        assert await tx.invites.redeem(invite.id, person_id=second.id, now=redeemed_at) is False
        assert await tx.invites.redeem(invite.id, person_id=first.id, now=redeemed_at) is False
    async with database.transaction() as tx:
        loaded = await tx.invites.by_hash("c" * 64)
        assert loaded is not None
        assert loaded.used_by_id == first.id
        assert loaded.used_at == redeemed_at
        assert await tx.invites.find() == []
        assert [i.id for i in await tx.invites.find(include_used=True)] == [invite.id]


async def test_an_expired_invite_cannot_be_redeemed(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        person = await tx.people.add(now=now, identity=telegram(1))
        invite = await tx.invites.add(
            code_hash="d" * 64,
            role=Role.VOLUNTEER,
            area_id=area.id,
            expires_at=now + timedelta(days=1),
            now=now,
        )
    async with database.transaction() as tx:
        assert await tx.invites.redeem(invite.id, person_id=person.id, now=now + timedelta(days=1)) is False
        assert await tx.invites.redeem(invite.id, person_id=person.id, now=now + timedelta(days=2)) is False
    async with database.transaction() as tx:
        loaded = await tx.invites.by_hash("d" * 64)
        assert loaded is not None
        assert loaded.used_by_id is None
        assert loaded.used_at is None
        # Just before expiry it still works.
        assert await tx.invites.redeem(invite.id, person_id=person.id, now=now + timedelta(hours=23)) is True


# --- processed updates ----------------------------------------------------------------------------


async def test_a_redelivered_update_is_recognised(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1001, now=now) is True
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1001, now=now) is False
    async with database.transaction() as tx:
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1001, now=now) is False
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1002, now=now) is True


async def test_an_update_recorded_in_a_rolled_back_transaction_is_new_again(
    database: Database, now: datetime
) -> None:

    async def handle_and_crash() -> None:
        async with database.transaction() as tx:
            assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=7, now=now) is True
            raise RuntimeError("handler crashed")

    with pytest.raises(RuntimeError):
        await handle_and_crash()
    async with database.transaction() as tx:
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=7, now=now) is True


async def test_the_same_update_id_on_another_channel_is_new(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=5, now=now) is True
        assert await tx.updates.record(channel=Channel.CONSOLE, update_id=5, now=now) is True
        assert await tx.updates.record(channel=Channel.CONSOLE, update_id=5, now=now) is False


async def test_a_turns_sender_is_found_through_their_account_in_one_statement(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        known = await tx.people.add(now=now, identity=telegram(61), area_ids=[], service_types=[])
        await tx.people.set_service_types(known.id, [ServiceType.RESOURCE_LINKING])
    with sent_statements(database) as statements:
        async with database.transaction() as tx:
            assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=71, now=now)
            recorded = len(statements)
            person = await tx.people.by_identity(Channel.TELEGRAM, "61")
            read = len(statements) - recorded
            # Nobody yet, then enrolled: each lookup reads what the transaction wrote so far.
            assert await tx.people.by_identity(Channel.TELEGRAM, "62") is None
            enrolled = await tx.people.add(now=now, identity=telegram(62))
            assert await tx.people.by_identity(Channel.TELEGRAM, "62") == enrolled
            await tx.people.update(known.id, language="en")
            assert (await tx.people.by_identity(Channel.TELEGRAM, "61")).language == "en"  # type: ignore[union-attr]
    assert person == dataclasses.replace(known, service_types=frozenset({ServiceType.RESOURCE_LINKING}))
    assert read == 1  # their areas, service types and accounts along


async def test_prune_removes_only_updates_older_than_the_cutoff(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now - timedelta(days=3))
        await tx.updates.record(channel=Channel.TELEGRAM, update_id=2, now=now - timedelta(days=2))
        await tx.updates.record(channel=Channel.TELEGRAM, update_id=3, now=now)
    async with database.transaction() as tx:
        assert await tx.updates.prune(older_than=now - timedelta(days=1)) == 2
        assert await tx.updates.prune(older_than=now - timedelta(days=1)) == 0
    async with database.transaction() as tx:
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now) is True
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=2, now=now) is True
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=3, now=now) is False


# --- outbox ---------------------------------------------------------------------------------------


async def _outbox_rows(database: Database) -> int:
    async with database.transaction() as tx:
        return await tx.session.scalar(select(func.count()).select_from(OutboxRow)) or 0


async def test_adding_an_alert_returns_it(database: Database, now: datetime) -> None:
    payload = {
        "kind": "new_ticket",
        "reference": "SA-20261129-0001",
        "text": "新工单",
        "buttons": ["claim", "refer"],
    }
    async with database.transaction() as tx:
        area = await _community(tx)
        worker = await _worker(tx, now, 42, area.id)
        ticket = await _open_ticket(tx, area_id=area.id, now=now)
        alert = await tx.outbox.add(
            idempotency_key="new:1:42",
            event=AlertKind.TICKET_OPENED,
            payload=payload,
            now=now,
            recipient_person_id=worker.id,
            ticket_id=ticket.id,
        )
    assert alert is not None
    assert alert.idempotency_key == "new:1:42"
    assert alert.recipient_person_id == worker.id
    assert alert.recipient_chat_id is None
    assert alert.ticket_id == ticket.id
    assert alert.payload == payload
    assert alert.status is OutboxStatus.PENDING
    assert alert.attempts == 0
    assert alert.next_attempt_at == now
    assert alert.created_at == now
    assert alert.sent_at is None
    assert alert.last_error is None
    async with database.transaction() as tx:
        assert await tx.outbox.get(alert.id) == alert
        assert await tx.outbox.by_key("new:1:42") == alert


async def test_the_same_idempotency_key_queues_one_alert_only(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        first = await tx.outbox.add(
            idempotency_key="k", event=NOTICE, payload={"n": 1}, now=now, recipient_chat_id=-100123
        )
        assert first is not None
        assert (
            await tx.outbox.add(
                idempotency_key="k", event=NOTICE, payload={"n": 2}, now=now, recipient_chat_id=-100123
            )
            is None
        )
    async with database.transaction() as tx:
        assert (
            await tx.outbox.add(
                idempotency_key="k", event=NOTICE, payload={"n": 3}, now=now, recipient_chat_id=555
            )
            is None
        )
    assert await _outbox_rows(database) == 1
    async with database.transaction() as tx:
        assert await tx.outbox.by_key("k") == first


async def test_due_returns_pending_alerts_whose_time_has_come_in_order(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        late = await tx.outbox.add(
            idempotency_key="late", event=NOTICE, payload={}, now=now, recipient_chat_id=1
        )
        early = await tx.outbox.add(
            idempotency_key="early",
            event=NOTICE,
            payload={},
            now=now - timedelta(minutes=5),
            recipient_chat_id=1,
        )
        future = await tx.outbox.add(
            idempotency_key="future",
            event=NOTICE,
            payload={},
            now=now + timedelta(hours=1),
            recipient_chat_id=1,
        )
        also_late = await tx.outbox.add(
            idempotency_key="also-late", event=NOTICE, payload={}, now=now, recipient_chat_id=2
        )
        sent = await tx.outbox.add(
            idempotency_key="sent",
            event=NOTICE,
            payload={},
            now=now - timedelta(hours=1),
            recipient_chat_id=3,
        )
        assert late is not None
        assert early is not None
        assert future is not None
        assert also_late is not None
        assert sent is not None
        assert await tx.outbox.mark_sent(sent.id, now=now) is True
    async with database.transaction() as tx:
        due = await tx.outbox.due(now=now)
        assert [alert.idempotency_key for alert in due] == ["early", "late", "also-late"]
        assert [alert.id for alert in await tx.outbox.due(now=now, limit=2)] == [early.id, late.id]
        assert [alert.id for alert in await tx.outbox.due(now=now + timedelta(hours=1))] == [
            early.id,
            late.id,
            also_late.id,
            future.id,
        ]
        assert await tx.outbox.due(now=now - timedelta(minutes=6)) == []


async def test_a_sent_alert_is_marked_once_and_no_longer_due(database: Database, now: datetime) -> None:
    sent_at = now + timedelta(seconds=3)
    async with database.transaction() as tx:
        alert = await tx.outbox.add(
            idempotency_key="k", event=NOTICE, payload={}, now=now, recipient_chat_id=1
        )
        assert alert is not None
    async with database.transaction() as tx:
        assert await tx.outbox.mark_sent(alert.id, now=sent_at) is True
        assert await tx.outbox.mark_sent(alert.id, now=sent_at) is False
    async with database.transaction() as tx:
        loaded = await tx.outbox.get(alert.id)
        assert loaded is not None
        assert loaded.status is OutboxStatus.SENT
        assert loaded.sent_at == sent_at
        assert loaded.attempts == 1
        assert await tx.outbox.due(now=now + timedelta(days=1)) == []
        assert [a.id for a in await tx.outbox.with_status(OutboxStatus.SENT)] == [alert.id]


async def test_a_failed_alert_with_a_retry_time_stays_pending_and_counts_attempts(
    database: Database, now: datetime
) -> None:
    retry_at = now + timedelta(minutes=2)
    async with database.transaction() as tx:
        alert = await tx.outbox.add(
            idempotency_key="k", event=NOTICE, payload={}, now=now, recipient_chat_id=1
        )
        assert alert is not None
    async with database.transaction() as tx:
        failed = await tx.outbox.mark_failed(alert.id, error="Timed out", retry_at=retry_at)
        assert failed is not None
        assert failed.status is OutboxStatus.PENDING
        assert failed.attempts == 1
        assert failed.last_error == "Timed out"
        assert failed.next_attempt_at == retry_at
    async with database.transaction() as tx:
        assert await tx.outbox.due(now=now) == []
        assert [a.id for a in await tx.outbox.due(now=retry_at)] == [alert.id]
        again = await tx.outbox.mark_failed(
            alert.id, error="x" * 600, retry_at=retry_at + timedelta(minutes=4)
        )
        assert again is not None
        assert again.attempts == 2
        assert again.last_error == "x" * 500
        assert again.status is OutboxStatus.PENDING
    async with database.transaction() as tx:
        loaded = await tx.outbox.get(alert.id)
        assert loaded == again
        assert await tx.outbox.mark_sent(alert.id, now=now) is True
        sent = await tx.outbox.get(alert.id)
        assert sent is not None
        assert sent.attempts == 3
        assert sent.last_error is None


async def test_a_failed_alert_without_a_retry_time_becomes_undeliverable(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        alert = await tx.outbox.add(
            idempotency_key="k", event=NOTICE, payload={}, now=now, recipient_chat_id=1
        )
        other = await tx.outbox.add(
            idempotency_key="other", event=NOTICE, payload={}, now=now, recipient_chat_id=2
        )
        assert alert is not None
        assert other is not None
    async with database.transaction() as tx:
        failed = await tx.outbox.mark_failed(
            alert.id, error="Forbidden: bot was blocked by the user", retry_at=None
        )
        assert failed is not None
        assert failed.status is OutboxStatus.UNDELIVERABLE
        assert failed.attempts == 1
        assert failed.last_error == "Forbidden: bot was blocked by the user"
    async with database.transaction() as tx:
        assert [a.id for a in await tx.outbox.with_status(OutboxStatus.UNDELIVERABLE)] == [alert.id]
        assert [a.id for a in await tx.outbox.with_status(OutboxStatus.PENDING)] == [other.id]
        assert [a.id for a in await tx.outbox.due(now=now + timedelta(days=365))] == [other.id]
        assert await tx.outbox.mark_sent(alert.id, now=now) is False


async def test_an_alert_with_neither_recipient_is_refused(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        with pytest.raises(ValueError, match="recipient"):
            await tx.outbox.add(idempotency_key="k", event=NOTICE, payload={}, now=now)
    assert await _outbox_rows(database) == 0


# --- one transaction per operation ----------------------------------------------------------------


async def test_an_exception_inside_a_transaction_rolls_back_everything_done_in_it(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        kept = await tx.areas.add(code="KEEP", name="保留", level=AreaLevel.DISTRICT)

    class Boom(Exception):
        pass

    async def do_everything_then_fail() -> None:
        async with database.transaction() as tx:
            area = await tx.areas.add(code="GONE", name="回滚", level=AreaLevel.DISTRICT, parent_id=None)
            await tx.areas.upsert(code="KEEP", name="改名", level=AreaLevel.DISTRICT)
            person = await tx.people.add(
                now=now,
                identity=telegram(42),
                area_ids=[area.id],
                service_types=[ServiceType.RESOURCE_LINKING],
            )
            await tx.organisations.add(name="回滚机构", now=now, area_ids=[area.id])
            ticket = await _open_ticket(tx, area_id=area.id, now=now, reporter_id=person.id)
            await tx.tickets.add_event(ticket_id=ticket.id, action=TicketAction.OPENED, now=now)
            await tx.consents.grant(
                person_id=person.id, purpose=ConsentPurpose.STORE_REPORT, notice_version="v1", now=now
            )
            await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now)
            await tx.outbox.add(
                idempotency_key="k",
                event=NOTICE,
                payload={},
                now=now,
                recipient_person_id=person.id,
                ticket_id=ticket.id,
            )
            raise Boom

    with pytest.raises(Boom):
        await do_everything_then_fail()

    async with database.transaction() as tx:
        assert await tx.areas.list_all() == [kept]
        assert await tx.areas.by_code("GONE") is None
        assert await tx.people.by_identity(Channel.TELEGRAM, "42") is None
        assert await tx.people.find(active_only=False) == []
        assert await tx.organisations.list_all() == []
        assert await tx.tickets.find() == []
        assert await tx.session.scalar(select(func.count()).select_from(TicketRow)) == 0
        assert await tx.outbox.by_key("k") is None
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now) is True
        assert await tx.tickets.next_reference(now.date()) == f"SA-{now:%Y%m%d}-0001"


async def test_everything_done_in_a_committed_transaction_is_visible_afterwards(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        area = await _community(tx)
        person = await tx.people.add(now=now, identity=telegram(42), area_ids=[area.id])
        ticket = await _open_ticket(tx, area_id=area.id, now=now, reporter_id=person.id)
    async with database.transaction() as tx:
        assert await tx.session.scalar(select(func.count()).select_from(AreaRow)) == 3
        assert await tx.people.by_identity(Channel.TELEGRAM, "42") == person
        assert await tx.tickets.find(reporter_id=person.id) == [ticket]


# --- crises: the review urgency and the on-call list ------------------------------------------------


async def test_every_urgency_round_trips_and_the_database_refuses_any_other(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        community = await _community(tx)
        for urgency in Urgency:
            ticket = await tx.tickets.add(
                reference=await tx.tickets.next_reference(now.date()),
                service_type=ServiceType.PSYCHOLOGICAL_SUPPORT,
                urgency=urgency,
                area_id=community.id,
                now=now,
            )
            stored = await tx.tickets.get(ticket.id)
            assert stored is not None
            assert stored.urgency is urgency
        found = await tx.tickets.find(urgencies=[Urgency.REVIEW, Urgency.CRITICAL])
        assert sorted(ticket.urgency.value for ticket in found) == ["critical", "review"]
    with pytest.raises(IntegrityError):
        async with database.transaction() as tx:
            await tx.core.execute(text("UPDATE tickets SET urgency = 'urgentish'"))


async def test_the_on_call_list_keeps_hours_and_area_and_entries_are_removed(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as tx:
        community = await _community(tx)
        worker = await _worker(tx, now, 7001, community.id)
        overnight = await tx.on_call.add(
            person_id=worker.id, area_id=community.id, from_time=time(20), until_time=time(8), now=now
        )
        everywhere = await tx.on_call.add(
            person_id=worker.id, area_id=None, from_time=time(0), until_time=time(0), now=now
        )
    async with database.transaction() as tx:
        listed = await tx.on_call.list_all()
        assert listed == [overnight, everywhere]
        assert (listed[0].from_time, listed[0].until_time, listed[0].area_id) == (
            time(20),
            time(8),
            community.id,
        )
        assert [entry.on_duty(time(23, 30)) for entry in listed] == [True, True]
        assert [entry.on_duty(time(12)) for entry in listed] == [False, True]
        assert await tx.on_call.remove(overnight.id)
        assert not await tx.on_call.remove(overnight.id)
        assert await tx.on_call.list_all() == [everywhere]
