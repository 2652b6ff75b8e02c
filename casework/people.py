"""People as the conversations meet them: identify, language, consent, enrolment, privacy."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from haversine import Unit, haversine
from phonenumbers import PhoneNumberType
from rapidfuzz import fuzz, process

from casework import disclosure, routing
from casework.access import Forbidden, manages
from casework.clock import Clock
from casework.directory import hash_invite_code
from casework.domain import (
    ASKED_AT_START,
    AlertKind,
    Area,
    Channel,
    Consent,
    ConsentPurpose,
    Identity,
    InvalidInput,
    NotFound,
    Person,
    Refusal,
    Role,
    ServiceType,
    Ticket,
    VulnerabilityTag,
    WorkerGroup,
)
from casework.unit_of_work import Transaction, UnitOfWork

NOTICE_VERSION = "2026-11"
# How far from a community's centre a shared location may be and still be taken for that community.
LOCATION_REACH_METRES = 3000
# What stands in an erased person's name or phone number in the texts kept about their cases. Stored
# data, not a message: the same in every language.
ERASED = "[已删除]"
SHORTEST_NAME = 2  # a shorter name (one letter) would erase that letter from every text kept


# What an area's name says of its kind rather than which one it is: 幸福社区 is 幸福.
AREA_KIND = re.compile(
    r"(?:社区居委会|居委会|社区|小区|街道办事处|街道办|街道|新区|区|县|镇|乡|村)$"
    r"|\s+(?:community|subdistrict|sub-district|district|county|township|town|street|village|estate)$"
)


def distinctive(name: str) -> str:
    """The part of an area's name that tells it from others of its kind, lower case."""
    return AREA_KIND.sub("", name.strip().casefold()).strip()


def normalise_phone(text: str) -> str:
    """A Chinese mobile number (11 digits, 1[3-9]…), a Chinese landline with its area code, or a number
    written with its country code (``+44 …``), as libphonenumber judges them; else InvalidInput.
    Chinese numbers are kept as dialled at home (``13812345678``, ``01012345678``), others in E.164."""
    try:
        number = phonenumbers.parse(text.strip(), "CN")
    except phonenumbers.NumberParseException:
        raise InvalidInput(Refusal.PHONE_INVALID) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(Refusal.PHONE_INVALID)
    if phonenumbers.region_code_for_number(number) != "CN":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    kind = phonenumbers.number_type(number)
    if kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise InvalidInput(Refusal.PHONE_INVALID)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return re.sub(r"\D", "", national)


def _phone_pattern(phone: str) -> str:
    """A phone number as someone may have typed it: with or without its country code, its digits
    run together or spaced or hyphenated; never part of a longer number."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    mainland = len(digits) == 11 and digits.startswith("1")  # a mobile: +86 may be written or not
    country = r"(?:\+?86[\s-]*)?" if mainland else r"\+?"
    spaced = r"[\s-]*".join(digits)
    return rf"(?<!\d){country}{spaced}(?!\d)"


def _name_pattern(name: str) -> str:
    """A name as written: a Latin one as a whole word and in any case, a Chinese one as it stands."""
    escaped = re.escape(name)
    return rf"(?i:(?<!\w){escaped}(?!\w))" if name.isascii() else escaped


def identity_scrubber(person: Person) -> Callable[[str], str]:
    """What an erasure does to the texts kept about the person's cases: their name (whole, and each
    part of it) and their phone number replaced by ``ERASED``, the rest of the words kept."""
    names = person.display_name.split()
    names = sorted({person.display_name.strip(), *names}, key=len, reverse=True)
    patterns = [_name_pattern(name) for name in names if len(name) >= SHORTEST_NAME]
    if person.phone:
        patterns.insert(0, _phone_pattern(person.phone))
    if not patterns:
        return lambda text: text
    found = re.compile("|".join(f"(?:{pattern})" for pattern in patterns))
    return lambda text: found.sub(ERASED, text)


@dataclass(frozen=True, slots=True)
class NearbyArea:
    area: Area
    metres: int  # from the shared location to the area's centre


def counted_in_statistics(consents: Iterable[Consent]) -> bool:
    """Whether the person is counted in the service's statistics: unless their latest answer on it
    (``ConsentPurpose.STATISTICS``) withdrew it."""
    answers = [consent for consent in consents if consent.purpose is ConsentPurpose.STATISTICS]
    return not answers or max(answers, key=lambda consent: consent.id).active


@dataclass(frozen=True, slots=True)
class PrivacySummary:
    person: Person
    consents: list[Consent]
    reports: list[KeptReport]
    tickets: list[Ticket]
    home_areas: list[Area]


@dataclass(frozen=True, slots=True)
class KeptReport:
    """A report as it is kept: the person's words and the situation recorded of the household."""

    text: str
    created_at: datetime
    tags: frozenset[VulnerabilityTag]


class People:
    def __init__(self, database: UnitOfWork, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    async def identify(
        self, user_id: int | str, *, channel: Channel, display_name: str, language: str
    ) -> tuple[Person, bool]:
        """The person behind an account on ``channel``, enrolled as a recipient on first contact (True)."""
        async with self.database.transaction(savepoint=False) as tx:  # a failed enrolment fails the turn
            person = await tx.people.by_identity(channel, str(user_id))
            if person is not None:
                return person, False
            person = await tx.people.add(
                now=self.clock.now(),
                identity=Identity(channel, str(user_id)),
                display_name=display_name[:200],
                language=language,
                role=Role.RECIPIENT,
            )
            return person, True

    async def known(self, user_id: int | str, *, channel: Channel) -> Person | None:
        """The person behind an account on ``channel``, if there is one (nobody is enrolled by asking)."""
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.people.by_identity(channel, str(user_id))

    async def get(self, person_id: int) -> Person:
        async with self.database.transaction() as tx:
            person = await tx.people.get(person_id)
        if person is None:
            raise NotFound(Refusal.PERSON_NOT_FOUND, person_id=person_id)
        return person

    async def named(self, person_ids: Iterable[int]) -> dict[int, Person]:
        """The people of these ids that there are, read together."""
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.people.many(person_ids)

    async def set_language(self, person_id: int, language: str) -> Person:
        async with self.database.transaction() as tx:
            return await tx.people.update(person_id, language=language)

    async def set_phone(self, person_id: int, phone: str) -> Person:
        async with self.database.transaction() as tx:
            return await tx.people.update(person_id, phone=normalise_phone(phone))

    async def set_home_area(self, person_id: int, area_id: int) -> Person:
        async with self.database.transaction() as tx:
            return await tx.people.set_areas(person_id, [area_id])

    async def consents(self, person_id: int) -> dict[ConsentPurpose, Consent]:
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.consents.active(person_id)

    async def consent_asked(self, person_id: int) -> bool:
        """Whether the person has answered every consent question (each answer is recorded as it is
        given: a conversation cut off halfway asks again, and loses none of them)."""
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.consents.purposes_answered(person_id, ASKED_AT_START) == len(ASKED_AT_START)

    async def consent_cut_off(self, person_id: int) -> bool:
        """Whether the person answered some consent questions but not all (the conversation asking
        them was lost)."""
        async with self.database.transaction(savepoint=False) as tx:
            return 0 < await tx.consents.purposes_answered(person_id, ASKED_AT_START) < len(ASKED_AT_START)

    async def count_in_statistics(self, person_id: int, counted: bool) -> None:
        """Whether the person's reports are counted, without their name, in the service's evaluation:
        withdrawn, their cases are left out of every report from now on (kept as a consent record)."""
        await self.record_consents(person_id, {ConsentPurpose.STATISTICS: counted})

    async def record_consents(self, person_id: int, answers: dict[ConsentPurpose, bool]) -> None:
        """Record each answer with the notice version shown. A refusal is kept too, as a consent
        withdrawn the moment it was asked, so the record shows the question was put and declined."""
        async with self.database.transaction() as tx:
            await tx.consents.record(
                person_id=person_id, answers=answers, notice_version=NOTICE_VERSION, now=self.clock.now()
            )

    async def enrol(self, person_id: int, code: str) -> Person:
        """Redeem an invite: the person takes its role, area and agency. A social worker serves the
        agency's service types, or all five when the invite names no agency."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            invite = await tx.invites.by_hash(hash_invite_code(code))
            if invite is None:
                raise InvalidInput(Refusal.INVITE_UNKNOWN)
            if invite.used_by_id is not None or invite.expires_at <= now:
                raise InvalidInput(Refusal.INVITE_SPENT)
            if not await tx.invites.redeem(invite.id, person_id=person_id, now=now):
                raise InvalidInput(Refusal.INVITE_SPENT)
            await tx.people.update(person_id, role=invite.role, organisation_id=invite.organisation_id)
            if invite.role is Role.SOCIAL_WORKER:
                agency = (
                    await tx.organisations.get(invite.organisation_id) if invite.organisation_id else None
                )
                await tx.people.set_service_types(
                    person_id, agency.service_types if agency is not None else tuple(ServiceType)
                )
            return await tx.people.set_areas(person_id, [invite.area_id])

    async def privacy(self, person_id: int) -> PrivacySummary:
        async with self.database.transaction() as tx:
            person = await tx.people.get(person_id)
            if person is None:
                raise NotFound(Refusal.PERSON_NOT_FOUND, person_id=person_id)
            kept = []
            for report in await tx.reports.by_reporter(person_id):
                household = await tx.households.get(report.household_id) if report.household_id else None
                tags = household.vulnerability_tags if household is not None else frozenset()
                kept.append(KeptReport(report.text, report.created_at, tags))
            return PrivacySummary(
                person=person,
                consents=await tx.consents.history(person_id),
                reports=kept,
                tickets=await tx.tickets.find(reporter_id=person_id),
                home_areas=[area for area_id in person.area_ids if (area := await tx.areas.get(area_id))],
            )

    async def erase(self, person_id: int, *, keep_words_of: frozenset[int] = frozenset()) -> None:
        """Erase what identifies the person; tickets stay, anonymised, for the statistics.

        Besides the person's own record and reports: their name and phone number in what staff wrote
        on their cases (the trail's notes, outcomes, referrals and the alerts that carried them), what
        they wrote back to a worker, their chat id on the alerts addressed to them, the bot's messages
        to them, the comments they left with their ratings, and their conversation state. What a
        volunteer reported of someone else's household is that household's, not the volunteer's: it
        stays. The words of the reports on ``keep_words_of`` stay too (a crisis, kept through the
        erasure: ``Casework.settle_for_erasure``)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            person = await tx.people.get(person_id)
            if person is None:
                raise NotFound(Refusal.PERSON_NOT_FOUND, person_id=person_id)
            scrub = identity_scrubber(person)
            tickets = await tx.tickets.linked_to_person(person_id)  # before their reports are unlinked
            await tx.tickets.scrub_texts(tickets, scrub)
            await tx.outbox.scrub_payloads(tickets, scrub)
            answered = await tx.tickets.forget_reply_to(person_id)
            own = [ticket.id for ticket in await tx.tickets.find(reporter_id=person_id)] + answered
            forgotten = [ticket_id for ticket_id in own if ticket_id not in keep_words_of]
            await tx.tickets.forget_replies(forgotten, erased=ERASED)
            # The households' case files: what staff wrote scrubbed of the person; the answers of their
            # own household's assessments erased (the risk and needs stay, for the figures).
            await tx.case_files.scrub_texts(await _households_of(tx, tickets), scrub)
            if person.role is Role.RECIPIENT:
                await tx.case_files.erase_answers(await _households_of(tx, forgotten))
            await tx.outbox.forget_replies(forgotten, erased=ERASED)
            await tx.outbox.forget_recipient(person_id=person_id, chat_id=None)
            await tx.people.forget_dialog_states(
                [f"{identity.channel.value}:{identity.external_id}" for identity in person.identities]
            )
            for identity in person.identities:  # each channel's chat with them
                if identity.chat_id is not None:
                    await tx.outbox.forget_recipient(person_id=person_id, chat_id=identity.chat_id)
                    # the bot's messages to them, sent or waiting
                    await tx.outgoing.forget_chat(channel=identity.channel, chat_id=identity.chat_id)
            await tx.tickets.redact_feedback_by(person_id)
            await tx.reports.redact_by_reporter(person_id, keep_words_of=sorted(keep_words_of))
            for purpose in ConsentPurpose:
                await tx.consents.withdraw(person_id=person_id, purpose=purpose, now=now)
            await tx.people.erase(person_id, now)

    async def area_children(self, parent_id: int | None) -> list[Area]:
        async with self.database.transaction() as tx:
            return await tx.areas.children(parent_id)

    async def areas(self) -> list[Area]:
        """Every area, each after its parent, as ``area_tree`` lists them."""
        return [area for _, area in await self.area_tree()]

    async def area_tree(self) -> list[tuple[int, Area]]:
        """Every area with its depth (0 at the top), each followed by what lies below it."""
        async with self.database.transaction(savepoint=False) as tx:
            every = await tx.areas.list_all()
        below: dict[int | None, list[Area]] = {}
        for area in every:
            below.setdefault(area.parent_id, []).append(area)
        tree: list[tuple[int, Area]] = []

        def walk(parent_id: int | None, depth: int) -> None:
            for area in below.get(parent_id, []):
                tree.append((depth, area))
                walk(area.id, depth + 1)

        walk(None, 0)
        return tree

    async def area(self, area_id: int) -> Area | None:
        async with self.database.transaction() as tx:
            return await tx.areas.get(area_id)

    async def match_area(self, text: str) -> list[Area]:
        """Communities whose name matches what was typed, loosely (社区 may be left out, typos allowed)."""
        query = text.strip()
        if not query:
            return []
        async with self.database.transaction() as tx:
            areas = await tx.areas.list_all()
        wanted = distinctive(query)
        named = [
            area for area in areas if wanted and wanted in (distinctive(area.name), distinctive(area.name_en))
        ]
        if named:  # 幸福 for 幸福社区, "xingfu" for Xingfu Community
            return named
        names = {area.id: f"{area.name} {area.name_en}".lower() for area in areas}
        found = process.extract(query.lower(), names, scorer=fuzz.WRatio, limit=3, score_cutoff=70)
        by_id = {area.id: area for area in areas}
        return [by_id[key] for _, _, key in found]

    async def locates_areas(self) -> bool:
        """Whether a shared location can find a community here (some community has a location)."""
        async with self.database.transaction() as tx:
            return await tx.areas.any_located()

    async def nearest_area(
        self, latitude: float, longitude: float, *, reach_metres: int = LOCATION_REACH_METRES
    ) -> NearbyArea | None:
        """The community whose centre is nearest a shared location, if one is within reach. The
        location itself is not kept."""
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise InvalidInput(Refusal.LOCATION_OUT_OF_RANGE)
        # A box a little larger than the reach narrows the candidates; the distance decides.
        span = reach_metres * 1.1 / 110_000  # degrees of latitude (one is at least 110.5 km)
        south, north = max(latitude - span, -90.0), min(latitude + span, 90.0)
        widest = math.cos(math.radians(max(abs(south), abs(north))))
        lon_span = 180.0 if widest < span / 180 else span / widest
        west, east = longitude - lon_span, longitude + lon_span
        boxes = [(max(west, -180.0), min(east, 180.0))]
        if west < -180:
            boxes.append((west + 360, 180.0))
        if east > 180:
            boxes.append((-180.0, east - 360))
        async with self.database.transaction() as tx:
            candidates = [
                area
                for low, high in boxes
                for area in await tx.areas.located_leaves_within(south, north, low, high)
            ]
        nearest = min(
            (
                NearbyArea(area, round(haversine((latitude, longitude), area.location, unit=Unit.METERS)))
                for area in candidates
                if area.location is not None
            ),
            key=lambda nearby: nearby.metres,
            default=None,
        )
        return nearest if nearest is not None and nearest.metres <= reach_metres else None

    async def message(self, user_id: int | str, key: str, *, now_suffix: str, channel: Channel) -> bool:
        """Queue a plain message (a catalog key) for the person behind an account on ``channel``."""
        async with self.database.transaction() as tx:
            person = await tx.people.by_identity(channel, str(user_id))
            if person is None or not person.active:
                return False
            told = disclosure.payload_for(
                AlertKind.DIALOG_MESSAGE, disclosure.relation_to(person, None), {"message_key": key}
            )
            if told is None:
                return False
            alert = await tx.outbox.queue(
                event=AlertKind.DIALOG_MESSAGE,
                payload=told,
                now=self.clock.now(),
                ticket_id=None,
                recipient_person_id=person.id,
                key_suffix=f"#{key}#{now_suffix}",
            )
            return alert is not None

    async def default_area(self) -> Area:
        """Where an urgent report goes when the person's area is not known yet: the top of the tree."""
        async with self.database.transaction() as tx:
            roots = await tx.areas.children(None)
        if not roots:
            raise NotFound(Refusal.AREAS_NONE)
        return roots[0]

    # --- workers' groups ----------------------------------------------------------------------------

    async def register_group(self, user_id: int, *, chat_id: int, title: str, area_name: str) -> WorkerGroup:
        """Make a group chat the alert group of an area: the supervisor's own, or one named (by code or
        name) within their areas. Administrators may register any area."""
        person = await self._group_manager(user_id)
        name = area_name.strip()
        matches = await self.match_area(name) if name else []
        async with self.database.transaction() as tx:
            if name:
                by_code = await tx.areas.by_code(name)
                exact = [area for area in matches if name.lower() in (area.name, area.name_en.lower())]
                matches = [by_code] if by_code is not None else exact or matches
                if len(matches) != 1:
                    raise InvalidInput(Refusal.GROUP_AREA_AMBIGUOUS, name=name[:50])
                area = matches[0]
            else:
                own = await tx.areas.get(next(iter(person.area_ids))) if len(person.area_ids) == 1 else None
                if own is None:
                    raise InvalidInput(Refusal.GROUP_AREA_MISSING)
                area = own
            if not manages(person, await routing.area_chain(tx, area.id)):
                raise Forbidden(Refusal.GROUP_AREA_NOT_YOURS)
            # Moving a group registered for another area takes that area's group away: only someone
            # who manages that area too may do it.
            current = await tx.groups.by_chat(chat_id)
            if current is not None and not manages(person, await routing.area_chain(tx, current.area_id)):
                raise Forbidden(Refusal.GROUP_NOT_YOURS)
            return await tx.groups.register(
                area_id=area.id,
                chat_id=chat_id,
                title=title[:200],
                now=self.clock.now(),
                registered_by_id=person.id,
            )

    async def unregister_group(self, user_id: int, *, chat_id: int) -> bool:
        """Stop a group's alerts: for a supervisor whose areas cover the group's area, or an admin."""
        person = await self._group_manager(user_id)
        async with self.database.transaction() as tx:
            group = await tx.groups.by_chat(chat_id)
            if group is None:
                return False
            if not manages(person, await routing.area_chain(tx, group.area_id)):
                raise Forbidden(Refusal.GROUP_NOT_YOURS)
            return await tx.groups.unregister(chat_id)

    async def group_area(self, chat_id: int) -> Area | None:
        async with self.database.transaction() as tx:
            group = await tx.groups.by_chat(chat_id)
            return await tx.areas.get(group.area_id) if group is not None else None

    async def _group_manager(self, user_id: int) -> Person:
        person = await self.known(user_id, channel=Channel.TELEGRAM)  # workers' groups are Telegram's
        if person is None or not person.active or person.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise Forbidden(Refusal.GROUP_SUPERVISORS_ONLY)
        return person


async def _households_of(tx: Transaction, ticket_ids: Iterable[int]) -> list[int]:
    households = set()
    for ticket_id in ticket_ids:
        ticket = await tx.tickets.get(ticket_id)
        if ticket is not None and ticket.household_id is not None:
            households.add(ticket.household_id)
    return sorted(households)
