"""Refusals are codes with arguments, worded in both catalogs; a person reads them in their language."""

from __future__ import annotations

import ast
import re
import string
from collections import defaultdict
from pathlib import Path

import pytest

from casework.domain import (
    AlertKind,
    Conflict,
    DomainError,
    InvalidInput,
    Refusal,
    Role,
    TicketAction,
    TicketStatus,
)
from dialogs.catalog import LANGUAGES, SUMMARY_WORDS, Catalog, summary_part, ticket_summary
from dialogs.engine import Ctx
from dialogs.turn import Turn
from storage import Database
from tests.dialog_harness import build_harness
from tests.test_dialog_worker import open_ticket, press_action, worker_named

ROOT = Path(__file__).resolve().parent.parent
RAISING_PACKAGES = ("casework", "storage", "bot", "dialogs", "nlu")
# ``CaseworkCore.take_step`` raises the refusal it is handed with the ticket's reference and status.
STEP_ARGUMENTS = frozenset({"reference", "status"})
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _refusal_named(node: ast.expr) -> Refusal | None:
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Refusal"
        and node.attr in Refusal.__members__
    ):
        return Refusal[node.attr]
    return None


def raise_sites() -> dict[Refusal, list[tuple[str, frozenset[str]]]]:
    """Every place the code raises each refusal ("file:line"), with the names of the arguments it
    gives: read from the source, so a new raise site is checked as soon as it is written."""
    sites: dict[Refusal, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    for package in RAISING_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                keywords = frozenset(keyword.arg for keyword in node.keywords if keyword.arg)
                for argument in node.args:
                    if (code := _refusal_named(argument)) is not None:
                        sites[code].append((where, keywords))
                for keyword in node.keywords:
                    if keyword.arg == "refusal" and (code := _refusal_named(keyword.value)) is not None:
                        sites[code].append((where, STEP_ARGUMENTS))
    return sites


SITES = raise_sites()


@pytest.mark.parametrize("code", list(Refusal), ids=str)
def test_every_refusal_is_worded_in_both_catalogs_with_the_same_placeholders(
    catalog: Catalog, code: Refusal
) -> None:
    key = f"refusal.{code}"
    assert catalog.has(key), f"{key} is missing from a catalog"
    zh, en = (catalog.texts[language][key] for language in LANGUAGES)
    assert _placeholders(zh) == _placeholders(en), key
    assert CJK.search(zh), f"{key} has no Chinese words: {zh!r}"


@pytest.mark.parametrize("code", list(Refusal), ids=str)
def test_every_refusal_is_raised_somewhere_with_the_arguments_its_words_need(
    catalog: Catalog, code: Refusal
) -> None:
    assert SITES[code], f"{code} is never raised"
    needed = _placeholders(catalog.texts["zh"][f"refusal.{code}"])
    for where, given in SITES[code]:
        assert needed <= given, f"{where} raises {code} without {sorted(needed - given)}"


@pytest.mark.parametrize("code", list(Refusal), ids=str)
def test_every_refusal_reads_whole_once_its_arguments_are_given(catalog: Catalog, code: Refusal) -> None:
    for _, given in SITES[code]:
        error = DomainError(code, **{name: f"<{name}>" for name in given})
        for language in LANGUAGES:
            text = catalog.refusal(error, language)
            assert not re.search(r"\{\w+\}", text), f"{code} in {language}: {text!r}"
            assert str(code) not in text  # words, not the code


def test_a_refusal_shows_its_code_and_arguments_for_logs_never_a_sentence() -> None:
    refused = Conflict(Refusal.TICKET_NOT_OPEN, reference="SA-20261130-0001", status=TicketStatus.CLOSED)
    assert str(refused) == "ticket.not_open(reference=SA-20261130-0001, status=closed)"
    assert str(InvalidInput(Refusal.NOTE_NEEDS_WORDS)) == "note.needs_words"


def test_a_status_in_a_refusal_is_said_in_words_in_each_language(catalog: Catalog) -> None:
    refused = Conflict(Refusal.TICKET_NOT_OPEN, reference="SA-20261130-0001", status=TicketStatus.CLOSED)
    assert catalog.refusal(refused, "zh") == "工单 SA-20261130-0001 现在是“已结案”，不能做这一步。"
    assert catalog.refusal(refused, "en") == (
        'Ticket SA-20261130-0001 is "closed"; that step is not possible now.'
    )


def test_a_code_without_words_still_reads_as_a_refusal(catalog: Catalog) -> None:
    unworded = InvalidInput("some.code.not.in.the.catalogs")  # type: ignore[arg-type]
    assert catalog.refusal_reply(unworded).key == "error.refused"
    assert "some.code.not.in.the.catalogs" in catalog.refusal(unworded, "en")


# --- typed events, and codes people see in words -------------------------------------------------


@pytest.mark.parametrize("action", list(TicketAction), ids=str)
def test_every_trail_action_has_words_for_the_case_view(catalog: Catalog, action: TicketAction) -> None:
    assert catalog.has(f"worker.event.{action}")


@pytest.mark.parametrize("kind", list(AlertKind), ids=str)
def test_every_alert_kind_has_words(catalog: Catalog, kind: AlertKind) -> None:
    assert catalog.has(f"alert.kind.{kind}")


def test_every_crisis_kind_and_policy_topic_has_words_for_a_tickets_summary(catalog: Catalog) -> None:
    from nlu.crisis import CrisisScreener
    from nlu.policy import PolicyKnowledgeBase

    kinds = {concept.kind for concept in CrisisScreener.load().concepts}
    topics = {entry.topic for entry in PolicyKnowledgeBase.load().entries}
    for kind in kinds:
        assert catalog.has(SUMMARY_WORDS["crisis"].format(kind)), kind
    for topic in topics:
        assert catalog.has(SUMMARY_WORDS["topic"].format(topic)), topic


def test_a_summary_is_stored_once_and_read_in_each_workers_language(catalog: Catalog) -> None:
    stored = ticket_summary(
        summary_part("on_behalf"),
        summary_part("knows", "no"),
        summary_part("tag", "elder_alone"),
        summary_part("tag", "disability"),
        summary_part("crisis", "self_harm"),
        "低保",
    )
    assert catalog.summary(stored, "zh") == (
        "志愿者代报 · 住户不知道此次报告 · 独居老人、残疾 · 有自伤或轻生风险 · 低保"
    )
    assert catalog.summary(stored, "en") == (
        "reported by a volunteer · the household does not know of this report"
        " · elder living alone, disability · risk of self-harm or suicide · 低保"
    )
    # One written before summaries held codes reads as it was written.
    assert catalog.summary("志愿者代报 · 独居", "en") == "志愿者代报 · 独居"


# --- through the dialog engine --------------------------------------------------------------------


async def test_a_refusal_reaches_a_chinese_worker_in_chinese(database: Database) -> None:
    """A worker writes a note on a case a supervisor closed meanwhile: the casework refuses it, and the
    worker reads why in Chinese, the status in words."""
    h = await build_harness(database)
    wang = await worker_named(h, 101, "王芳")
    supervisor = await h.enrol(201, Role.SUPERVISOR)
    ticket = await open_ticket(h)
    await h.casework.claim(wang, ticket.id)
    chat = h.chat(101)
    await press_action(chat, "note", ticket.id)
    assert chat.keys == ["worker.note.ask"]
    await h.casework.close(supervisor, ticket.id, "重复工单")

    await chat.say("已电话联系，约好明天上门")
    assert chat.keys == ["refusal.note.reopen_first"]
    said = chat.text()
    assert said == f"工单 {ticket.reference} 已经是“已结案”了。要补充记录，请先重新打开工单。"
    assert not re.search("[A-Za-z]{3,}", said.replace(ticket.reference, ""))


async def test_a_refusal_the_engine_meets_is_said_in_the_persons_language(database: Database) -> None:
    """Whatever command meets a refusal, the engine words it from the catalog in the person's language."""
    h = await build_harness(database)

    async def refusing(ctx: Ctx, argument: str) -> None:
        raise Conflict(Refusal.REFER_UNDER_WAY, reference="SA-20261130-0007")

    h.engine.commands["refer_again"] = refusing
    zh = await h.engine.handle(Turn(channel="console", user_id=301, language_hint="zh", text="/refer_again"))
    en = await h.engine.handle(Turn(channel="console", user_id=302, language_hint="en", text="/refer_again"))
    assert [reply.key for reply in zh[0]] == [reply.key for reply in en[0]] == ["refusal.refer.under_way"]
    assert h.catalog.render(zh[0][0], zh[1]) == "工单 SA-20261130-0007 正在转介中，请等对方答复后再说。"
    assert h.catalog.render(en[0][0], en[1]) == (
        "Ticket SA-20261130-0007 is already being referred; wait for the answer."
    )
