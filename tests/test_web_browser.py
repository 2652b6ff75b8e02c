"""The web console in a real browser (Chromium, driven by Playwright): signing in, queues, a case's
whole day, a supervisor's bulk work, what the console refuses; on the console served by uvicorn as
``needsbot web`` serves it. The resident's side of a case worked in the browser is checked through the
Bot API fake. Screenshots of the main pages go to ``var/screenshots``."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from casework import directory
from casework.domain import ConsentPurpose, Role, ServiceType, TicketStatus, Urgency
from casework.staff_sign_in import IDLE_AFTER
from storage import create_database
from tests.browser import chromium, screenshot_path, served
from tests.services import free_port
from tests.test_telegram import MODEL_DIR, Running, bot_running, fragment, label
from tests.web_console import Console, build_console

PASSWORD = "a long enough password"


@dataclass
class Site:
    console: Console
    url: str
    browser: Browser

    def t(self, key: str, language: str = "zh", **args: object) -> str:
        return self.console.catalog.text(key, language, **args)

    async def page(self, *, viewport: ViewportSize | None = None) -> Page:
        context = await self.browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        return await context.new_page()

    async def signed_in(self, name: str, *, viewport: ViewportSize | None = None) -> Page:
        """A page of a browser signed in as ``name`` by a one-time link, as the bot's /web gives it."""
        page = await self.page(viewport=viewport)
        token = await self.console.sign_in.issue_link(self.console.person(name))
        await page.goto(f"{self.url}/signin/{token}")
        await page.get_by_role("button", name=self.t("web.link.submit")).click()
        await page.wait_for_url(re.compile(r"/account$"))
        return page


@pytest.fixture
async def site(sqlite_url: str) -> AsyncIterator[Site]:
    database = create_database(sqlite_url)
    try:
        console = await build_console(database)
        async with chromium() as browser, served(console.app) as url:
            yield Site(console, url, browser)
    finally:
        await database.dispose()


# --- signing in ----------------------------------------------------------------------------------


async def test_a_worker_signs_in_by_a_one_time_link_and_sets_a_password(site: Site) -> None:
    page = await site.signed_in("wang")
    await expect(page.get_by_role("heading", name=site.t("web.account.title"))).to_be_visible()
    await page.get_by_label(site.t("web.signin.login")).fill("wang.fang")
    await page.get_by_label(site.t("web.account.new_password")).fill(PASSWORD)
    await page.get_by_role("button", name=site.t("web.account.save")).click()
    await expect(page.locator("#password-saved")).to_contain_text("wang.fang")
    await page.screenshot(path=screenshot_path("account"))


async def test_a_link_works_once(site: Site) -> None:
    token = await site.console.sign_in.issue_link(site.console.person("wang"))
    first = await site.page()
    await first.goto(f"{site.url}/signin/{token}")
    await first.get_by_role("button", name=site.t("web.link.submit")).click()
    await first.wait_for_url(re.compile(r"/account$"))
    second = await site.page()
    await second.goto(f"{site.url}/signin/{token}")
    await second.get_by_role("button", name=site.t("web.link.submit")).click()
    await expect(second.get_by_role("alert")).to_have_text(site.t("refusal.web.link_spent"))


async def test_a_worker_signs_in_with_a_password_by_the_keyboard(site: Site) -> None:
    await site.console.sign_in.set_password(site.console.person("wang"), PASSWORD, login="wang")
    page = await site.page()
    await page.goto(f"{site.url}/queue/team")
    await page.wait_for_url(re.compile(r"/signin\?next=/queue/team"))
    await page.keyboard.type("wang")  # the login name has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/queue/team$"))
    await expect(page.get_by_role("heading", name=site.t("web.queue.team"))).to_be_visible()


async def test_six_wrong_passwords_lock_the_account(site: Site) -> None:
    await site.console.sign_in.set_password(site.console.person("chief"), PASSWORD, login="chief")
    page = await site.page()
    await page.goto(f"{site.url}/signin")
    for attempt in range(6):
        await page.get_by_label(site.t("web.signin.login")).fill("chief")
        await page.get_by_label(site.t("web.signin.password")).fill(f"wrong password {attempt}")
        await page.get_by_role("button", name=site.t("web.signin.submit")).click()
        await page.wait_for_load_state()
    await expect(page.locator("#signin-error")).to_have_text(site.t("refusal.web.locked", minutes=30))
    await page.get_by_label(site.t("web.signin.login")).fill("chief")
    await page.get_by_label(site.t("web.signin.password")).fill(PASSWORD)
    await page.get_by_role("button", name=site.t("web.signin.submit")).click()
    await expect(page.locator("#signin-error")).to_have_text(site.t("refusal.web.locked", minutes=30))


async def test_residents_cannot_get_in(site: Site) -> None:
    page = await site.page()
    response = await page.goto(f"{site.url}/signin/not-a-token")
    assert response is not None
    assert response.status == 200  # a GET only asks
    await page.get_by_role("button", name=site.t("web.link.submit")).click()
    await expect(page.get_by_role("alert")).to_have_text(site.t("refusal.web.link_spent"))
    await page.goto(f"{site.url}/queue/mine")
    await page.wait_for_url(re.compile(r"/signin"))


async def test_signing_out_ends_the_session(site: Site) -> None:
    page = await site.signed_in("wang")
    await page.get_by_role("button", name=site.t("web.sign_out")).click()
    await page.wait_for_url(re.compile(r"/signin$"))
    await page.goto(f"{site.url}/queue/mine")
    await page.wait_for_url(re.compile(r"/signin\?next=/queue/mine"))


async def test_a_revoked_session_sends_the_browser_to_sign_in(site: Site) -> None:
    page = await site.signed_in("wang")
    await site.console.sign_in.revoke(site.console.person("wang").id)
    await page.goto(f"{site.url}/queue/mine")
    await page.wait_for_url(re.compile(r"/signin\?next=/queue/mine&ended=1"))
    await expect(page.get_by_role("status")).to_have_text(site.t("web.signin.ended"))


async def test_an_idle_session_is_warned_of_and_then_ended(site: Site) -> None:
    page = await site.page()
    await page.clock.install()
    token = await site.console.sign_in.issue_link(site.console.person("wang"))
    await page.goto(f"{site.url}/signin/{token}")
    await page.get_by_role("button", name=site.t("web.link.submit")).click()
    await page.wait_for_url(re.compile(r"/account$"))
    await page.clock.fast_forward("13:01")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(site.t("web.idle.warning"))
    await dialog.get_by_role("button", name=site.t("web.idle.stay")).click()
    await expect(dialog).to_be_hidden()
    # Idle on the server's clock too: the next page finds the session ended.
    site.console.world.clock.advance(IDLE_AFTER)
    await page.goto(f"{site.url}/queue/mine")
    await page.wait_for_url(re.compile(r"ended=1"))


async def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/case/{ticket.id}")
    await page.locator("#step-claim input[name=csrf]").evaluate("input => input.value = 'forged'")
    await page.locator("#step-claim button").click()
    await expect(page.get_by_role("alert")).to_have_text(site.t("web.csrf_refused"))
    assert (
        await site.console.world.casework.status(site.console.person("wang"), ticket.id)
    ).assignee_id is None


# --- queues --------------------------------------------------------------------------------------


async def test_a_workers_queue_shows_only_their_areas(site: Site) -> None:
    mine = await site.console.open_ticket("c1")
    theirs = await site.console.open_ticket("c3", reporter_id=site.console.person("neighbour").id)
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/queue/team")
    await expect(page.get_by_role("link", name=mine.reference)).to_be_visible()
    await expect(page.get_by_role("link", name=theirs.reference)).to_have_count(0)
    other = await site.signed_in("zhou")
    await other.goto(f"{site.url}/queue/team")
    await expect(other.get_by_role("link", name=theirs.reference)).to_be_visible()
    await expect(other.get_by_role("link", name=mine.reference)).to_have_count(0)
    await page.screenshot(path=screenshot_path("queue"), full_page=True)


async def test_the_navigation_counts_each_queue(site: Site) -> None:
    await site.console.open_ticket("c1")
    held = await site.console.open_ticket("c2", reporter_id=site.console.person("neighbour").id)
    await site.console.world.casework.claim(site.console.person("wang"), held.id)
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/queue/mine")
    await expect(page.locator("#nav-mine .count")).to_have_text("1")
    await expect(page.locator("#nav-unclaimed .count")).to_have_text("1")
    await expect(page.locator("#nav-team .count")).to_have_text("2")
    await expect(page.locator("#nav-crisis .count")).to_have_text("0")


async def test_filters_narrow_the_queue_in_place(site: Site) -> None:
    rent = await site.console.open_ticket("c1")
    talk = await site.console.open_ticket(
        "c2",
        reporter_id=site.console.person("neighbour").id,
        service_type=ServiceType.PSYCHOLOGICAL_SUPPORT,
        intent="need_psychological_support",
    )
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/queue/team")
    await expect(page.get_by_role("link", name=talk.reference)).to_be_visible()
    await page.get_by_label(site.t("web.filter.service")).select_option(ServiceType.RESOURCE_LINKING.value)
    await expect(page.get_by_role("link", name=talk.reference)).to_have_count(0)
    await expect(page.get_by_role("link", name=rent.reference)).to_be_visible()
    assert "service=resource_linking" in page.url  # the filtered queue has an address to come back to


async def test_a_long_queue_shows_fifty_rows_and_brings_more_on_request(site: Site) -> None:
    for number in range(55):  # reported by nobody known: 55 cases, not one household's one
        await site.console.open_ticket("c1", reporter_id=None, summary=f"第{number}件")
    page = await site.signed_in("chief")
    await page.goto(f"{site.url}/queue/team")
    rows = page.locator("#rows tr a[href^='/case/']")
    await expect(rows).to_have_count(50)
    await page.get_by_role("link", name=site.t("web.queue.more", shown=50, total=55)).click()
    await expect(rows).to_have_count(55)
    assert page.url.endswith("/queue/team")  # brought into the page, not a new one


async def test_a_breached_ticket_is_overdue_and_listed_first(site: Site) -> None:
    old = await site.console.open_ticket("c1")
    site.console.world.clock.advance(timedelta(days=3))
    new = await site.console.open_ticket("c2", reporter_id=site.console.person("neighbour").id)
    page = await site.signed_in("chief")
    await page.goto(f"{site.url}/queue/overdue")
    await expect(page.get_by_role("link", name=old.reference)).to_be_visible()
    await expect(page.get_by_role("link", name=new.reference)).to_have_count(0)
    await page.goto(f"{site.url}/queue/team")
    first = page.locator("#rows tr").first
    await expect(first).to_contain_text(old.reference)
    await expect(first).to_contain_text(site.t("worker.sla.breached"))


async def test_a_crisis_is_in_the_crisis_queue(site: Site) -> None:
    crisis = await site.console.open_ticket("c1", urgency=Urgency.CRITICAL)
    page = await site.signed_in("chief")
    await page.goto(f"{site.url}/queue/crisis")
    await expect(page.get_by_role("link", name=crisis.reference)).to_be_visible()


async def test_a_supervisor_assigns_several_tickets_at_once(site: Site) -> None:
    first = await site.console.open_ticket("c1")
    second = await site.console.open_ticket("c2", reporter_id=site.console.person("neighbour").id)
    far = await site.console.open_ticket("c3", reporter_id=site.console.person("volunteer").id)
    page = await site.signed_in("chief")
    await page.goto(f"{site.url}/queue/unclaimed")
    await expect(page.get_by_role("link", name=far.reference)).to_have_count(0)  # not chief's area
    await page.get_by_role("checkbox", name=first.reference).check()
    await page.get_by_role("checkbox", name=second.reference).check()
    await page.locator("#bulk-worker").select_option(str(site.console.person("li").id))
    await page.get_by_role("button", name=site.t("web.bulk.assign")).click()
    results = page.locator("#bulk-results li")
    await expect(results).to_have_count(2)
    await expect(results.first).to_contain_text(site.t("web.bulk.done"))
    li = site.console.person("li")
    assert {item.ticket.id for item in await site.console.world.casework.mine(li)} == {first.id, second.id}


async def test_a_supervisor_closes_several_tickets_each_checked(site: Site) -> None:
    first = await site.console.open_ticket("c1")
    second = await site.console.open_ticket("c2", reporter_id=site.console.person("neighbour").id)
    page = await site.signed_in("chief")
    await page.goto(f"{site.url}/queue/team")
    await page.get_by_role("checkbox", name=first.reference).check()
    await page.get_by_role("checkbox", name=second.reference).check()
    await site.console.world.casework.close(site.console.person("admin"), second.id, "重复")  # meanwhile
    await page.locator("#bulk-note").fill("重复工单")
    await page.get_by_role("button", name=site.t("web.bulk.close")).click()
    results = page.locator("#bulk-results li")
    await expect(results.nth(0)).to_have_class("done")
    await expect(results.nth(1)).to_have_class("error")  # closed already: refused for that ticket alone
    chief = site.console.person("chief")
    assert (await site.console.world.casework.status(chief, first.id)).status is TicketStatus.CLOSED


# --- a case --------------------------------------------------------------------------------------


async def test_a_forbidden_case_url_is_answered_403(site: Site) -> None:
    ticket = await site.console.open_ticket("c3")
    page = await site.signed_in("wang")
    response = await page.goto(f"{site.url}/case/{ticket.id}")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("alert")).to_have_text(site.t("refusal.ticket.outside_your_areas"))
    await expect(page.get_by_text(ticket.reference)).to_have_count(0)


async def test_a_worker_claims_notes_and_resolves_a_case(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/queue/unclaimed")
    await page.get_by_role("link", name=ticket.reference).click()
    await page.get_by_role("button", name=site.t("alert.button.claim")).click()
    await expect(page.locator("#done")).to_have_text(site.t("web.case.done.claim"))
    await expect(page.locator("#holder")).to_have_text("wang")
    await expect(page.get_by_role("button", name=site.t("alert.button.claim"))).to_have_count(0)
    await page.get_by_label(site.t("web.case.words.note")).fill("电话联系了，下周上门")
    await page.get_by_role("button", name=site.t("worker.button.note")).click()
    await expect(page.locator("#trail")).to_contain_text("电话联系了，下周上门")
    await page.screenshot(path=screenshot_path("case"), full_page=True)
    await page.get_by_label(site.t("web.case.words.resolve")).fill("已申请临时救助")
    await page.get_by_role("button", name=site.t("worker.button.resolve")).click()
    await expect(page.locator("h1 small")).to_have_text(site.t("worker.status.resolved"))
    await expect(page.locator("#trail")).to_contain_text(site.t("worker.event.resolved"))


async def test_a_worker_keeps_the_case_file_in_the_browser(site: Site) -> None:
    """Assessment, a goal for the worker and one for the volunteer, a goal moved, a review; a wrong
    answer gives the form back as it was filled in, its question named in words."""
    ticket = await site.console.open_ticket("c1")
    await site.console.world.casework.claim(site.console.person("wang"), ticket.id)
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/case/{ticket.id}")
    await page.get_by_role("link", name=site.t("casefile.button.assess")).click()
    await page.wait_for_url(re.compile(rf"/case/{ticket.id}/assess$"))

    await page.locator('select[name="members.0.relationship"]').select_option("self")
    await page.locator('select[name="members.0.age_band"]').select_option("age_60_79")
    await page.locator('input[name="members.0.status"][value="dibao"]').check()
    await page.locator('select[name="members.1.relationship"]').select_option("spouse")  # no age band
    await page.locator('input[name="income_sources"][value="pension"]').check()
    for question, option in [
        ("income_adequacy", "tight"),
        ("housing", "rent"),
        ("housing_condition", "needs_repair"),
        ("care_needs", "some"),
        ("schooling", "no_children"),
        ("employment", "retired"),
        ("family_support", "some"),
        ("neighbour_support", "some"),
        ("isolation", "somewhat"),
        ("psychological_state", "stressed"),
        ("risk_level", "medium"),
    ]:
        await page.locator(f'select[name="{question}"]').select_option(option)
    await page.locator('select[name="needs.resource_linking"]').select_option("high")
    await page.get_by_label(site.t("assessment.short.risk_reasons")).fill("老两口房租负担重")
    await page.get_by_role("button", name=site.t("web.assess.save")).click()

    missing = site.t("refusal.assessment.missing_answer", question=site.t("assessment.short.members"))
    await expect(page.locator("#error")).to_have_text(missing)
    await expect(page.locator("#q-members")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label(site.t("assessment.short.risk_reasons"))).to_have_value("老两口房租负担重")
    await expect(page.locator('select[name="housing"]')).to_have_value("rent")
    await page.locator('select[name="members.1.age_band"]').select_option("age_60_79")
    await page.screenshot(path=screenshot_path("assessment"), full_page=True)
    await page.get_by_role("button", name=site.t("web.assess.save")).click()
    await page.wait_for_url(re.compile(rf"/case/{ticket.id}/file\?done=assess$"))
    await expect(page.locator("#done")).to_have_text(site.t("web.file.done.assess"))
    await expect(page.locator("#answers")).to_contain_text(site.t("assessment.option.housing.rent"))
    await expect(page.locator("#answers")).to_contain_text(site.t("assessment.option.risk_level.medium"))

    add_goal = page.locator("#add-goal")
    await add_goal.get_by_label(site.t("web.filter.service")).select_option("resource_linking")
    await page.get_by_label(site.t("web.file.goal_title")).fill("申请临时救助")
    await page.get_by_label(site.t("web.file.goal_due")).fill("2020-01-01")  # in the past
    await add_goal.get_by_role("button").click()
    await expect(page.locator("#error")).to_have_text(site.t("refusal.goal.due_past"))
    await expect(page.get_by_label(site.t("web.file.goal_title"))).to_have_value("申请临时救助")
    await page.get_by_label(site.t("web.file.goal_due")).fill("")
    await add_goal.get_by_role("button").click()
    await expect(page.locator("#done")).to_have_text(site.t("web.file.done.add_goal"))
    volunteer = site.console.person("volunteer")
    await page.get_by_label(site.t("web.file.goal_title")).fill("陪同去医院复查")
    await page.get_by_label(site.t("casefile.plan.ask_owner")).select_option(f"volunteer:{volunteer.id}")
    await add_goal.get_by_role("button").click()
    await expect(page.locator("#goals > li")).to_have_count(2)
    await expect(page.locator("#goals")).to_contain_text("陪同去医院复查")

    the_file = await site.console.world.casework.case_file(site.console.person("wang"), ticket.id)
    assert the_file is not None
    first, second = the_file.goals
    assert second.owner_person_id == volunteer.id
    await page.locator(f"#goal-{first.id}").get_by_role("combobox").first.select_option("under_way")
    await page.locator(f"#goal-{first.id}").get_by_role("button").click()
    await expect(page.locator("#done")).to_have_text(site.t("web.file.done.goal"))
    await page.locator(f"#goal-{second.id}").get_by_role("combobox").first.select_option("dropped")
    await page.locator(f"#goal-{second.id}").get_by_role("button").click()  # no reason given
    await expect(page.locator("#error")).to_have_text(site.t("refusal.goal.drop_needs_reason"))

    await page.locator("#review").get_by_label(site.t("casefile.progress.achieved")).first.check()
    await page.get_by_label(site.t("web.file.review_note")).fill("临时救助批下来了")
    await page.get_by_role("button", name=site.t("web.file.review_save")).click()
    await expect(page.locator("#done")).to_have_text(site.t("web.file.done.review"))
    await expect(page.locator("#reviews")).to_contain_text("临时救助批下来了")
    await page.screenshot(path=screenshot_path("case-file"), full_page=True)
    the_file = await site.console.world.casework.case_file(site.console.person("wang"), ticket.id)
    assert the_file is not None
    assert [goal.status.value for goal in the_file.goals] == ["achieved", "planned"]
    assert the_file.latest is not None
    assert the_file.latest.answers["members"][1] == {"relationship": "spouse", "age_band": "age_60_79"}
    assert the_file.next_review_on is not None  # four weeks on, as the form offered

    await page.locator("#review").get_by_label(site.t("casefile.progress.same")).first.check()
    await page.get_by_label(site.t("web.file.next_review"), exact=True).select_option("0")
    await page.get_by_role("button", name=site.t("web.file.review_save")).click()
    await expect(page.locator("#done")).to_have_text(
        site.t("web.file.done.last_review")
    )  # no reminder promised


async def test_another_area_s_worker_reads_no_case_file_and_a_finished_case_takes_no_record(
    site: Site,
) -> None:
    ticket = await site.console.open_ticket("c1")
    wang = site.console.person("wang")
    await site.console.world.casework.claim(wang, ticket.id)
    elsewhere = await site.signed_in("zhou")
    for path in ("file", "assess"):
        response = await elsewhere.goto(f"{site.url}/case/{ticket.id}/{path}")
        assert response is not None
        assert response.status == 403
    await site.console.world.casework.resolve(wang, ticket.id, "已办结")
    page = await site.signed_in("wang")
    response = await page.goto(f"{site.url}/case/{ticket.id}/file")
    assert response is not None
    assert response.status == 200
    await expect(page.locator("#add-goal")).to_have_count(0)
    await expect(page.locator("#assess-link")).to_have_count(0)
    response = await page.goto(f"{site.url}/case/{ticket.id}/assess")
    assert response is not None
    assert response.status == 409


async def test_a_case_is_referred_in_the_browser_and_accepted_by_its_new_worker(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    await site.console.world.casework.claim(site.console.person("wang"), ticket.id)
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/case/{ticket.id}")
    await page.get_by_label(site.t("web.case.refer_to")).select_option(
        f"person:{site.console.person('li').id}"
    )
    await page.get_by_label(site.t("web.case.words.refer")).fill("李社工更熟悉廉租房申请")
    await page.get_by_role("button", name=site.t("alert.button.refer")).click()
    await expect(page.locator("#done")).to_have_text(site.t("web.case.done.refer"))
    other = await site.signed_in("li")
    await other.goto(f"{site.url}/case/{ticket.id}")
    await other.get_by_role("button", name=site.t("alert.button.accept")).click()
    await expect(other.locator("#holder")).to_have_text("li")
    await expect(other.locator("#trail")).to_contain_text(site.t("worker.event.referral_accepted"))


async def test_a_referral_declined_in_the_browser_goes_back_with_its_reason(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    wang, zhao = site.console.person("wang"), site.console.person("zhao")
    await site.console.world.casework.claim(wang, ticket.id)
    await site.console.world.casework.refer(wang, ticket.id, reason="就近", to_person_id=zhao.id)
    page = await site.signed_in("zhao")
    await page.goto(f"{site.url}/case/{ticket.id}")
    await page.get_by_label(site.t("web.case.words.decline_referral")).fill("本周在外培训")
    await page.get_by_role("button", name=site.t("alert.button.decline")).click()
    await page.wait_for_load_state()
    back = await site.console.world.casework.status(wang, ticket.id)
    assert back.assignee_id == wang.id


async def test_a_supervisor_reviews_a_finished_case_and_only_its_worker_reads_the_review(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    wang = site.console.person("wang")
    await site.console.world.casework.claim(wang, ticket.id)
    await site.console.world.casework.resolve(wang, ticket.id, "已申请临时救助")
    page = await site.signed_in("chief")
    await page.goto(f"{site.url}/case/{ticket.id}")
    form = page.locator("#step-supervise")
    for criterion, level in (
        ("assessment_done", "supervision.met.0"),
        ("plan_followed", "supervision.met.1"),
        ("kept_informed", "supervision.met.2"),
        ("outcome_recorded", "supervision.met.2"),
    ):
        group = form.get_by_role("group", name=site.t(f"supervision.criterion.{criterion}"))
        await group.get_by_label(site.t(level), exact=True).check()
    await form.get_by_label(site.t("web.case.words.supervise")).fill("下次先做入户评估")
    await form.get_by_role("button", name=site.t("supervision.button")).click()
    await expect(page.locator("#done")).to_have_text(site.t("web.case.done.supervise"))
    await expect(page.locator("#review")).to_contain_text("62%")
    worker = await site.signed_in("wang")
    await worker.goto(f"{site.url}/case/{ticket.id}")
    await expect(worker.locator("#review")).to_contain_text("62%")
    await expect(worker.get_by_text("下次先做入户评估")).to_be_visible()
    other = await site.signed_in("li")
    await other.goto(f"{site.url}/case/{ticket.id}")
    await expect(other.locator("#review")).to_have_count(0)


async def test_a_supervisor_assigns_a_case_from_its_page(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    page = await site.signed_in("chief")
    await page.goto(f"{site.url}/case/{ticket.id}")
    await page.locator("#assign-worker").select_option(str(site.console.person("zhao").id))
    await page.get_by_role("button", name=site.t("worker.button.assign")).click()
    await expect(page.locator("#holder")).to_have_text("zhao")


async def test_revealing_the_phone_is_written_to_the_trail_and_shown_to_the_reader(site: Site) -> None:
    world = site.console.world
    resident = site.console.person("resident")
    await site.console.people.set_phone(resident.id, "13812345678")
    await site.console.people.record_consents(resident.id, dict.fromkeys(ConsentPurpose, True))
    ticket = await site.console.open_ticket("c1")
    await world.casework.claim(site.console.person("wang"), ticket.id)
    page = await site.signed_in("wang")
    await page.goto(f"{site.url}/case/{ticket.id}")
    await expect(page.locator("#phone-masked")).to_contain_text("138****5678")
    await page.get_by_role("button", name=site.t("worker.button.show_phone")).click()
    await expect(page.locator("#phone")).to_contain_text("13812345678")
    await expect(page.locator("#trail")).to_contain_text(site.t("worker.event.phone_shown"))
    await page.get_by_text(site.t("web.case.reads_count", n=2)).click()
    await expect(page.locator("#reads li").first).to_contain_text("wang")


async def test_the_console_speaks_english_by_a_switch(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    page = await site.signed_in("wang")
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name=site.t("web.account.title", "en"))).to_be_visible()
    await page.goto(f"{site.url}/case/{ticket.id}")
    await expect(page.get_by_role("button", name=site.t("alert.button.claim", "en"))).to_be_visible()
    assert await page.locator("html").get_attribute("lang") == "en"


async def test_an_evaluator_signs_in_but_reads_no_queue_or_case(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    page = await site.signed_in("evaluator")
    await expect(page.locator("#nav-mine")).to_have_count(0)
    response = await page.goto(f"{site.url}/queue/team")
    assert response is not None
    assert response.status == 403
    response = await page.goto(f"{site.url}/case/{ticket.id}")
    assert response is not None
    assert response.status == 403


async def test_the_queue_is_usable_on_a_phone(site: Site) -> None:
    ticket = await site.console.open_ticket("c1")
    page = await site.signed_in("wang", viewport={"width": 390, "height": 844})
    await page.goto(f"{site.url}/queue/team")
    link = page.get_by_role("link", name=ticket.reference)
    await expect(link).to_be_in_viewport()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing runs off the side of the screen
    await page.screenshot(path=screenshot_path("queue-phone"), full_page=True)


# --- reports -------------------------------------------------------------------------------------


async def test_a_supervisor_reads_the_evaluation_and_downloads_its_workbook(
    site: Site, tmp_path: Path
) -> None:
    for _ in range(3):
        await site.console.open_ticket("c1")
    page = await site.signed_in("chief")
    await page.get_by_role("link", name=site.t("web.nav.reports")).click()
    await expect(page.locator("#report-summary")).to_contain_text(site.t("report.period.this-month"))
    await expect(page.locator("#report-summary")).to_contain_text("新工单 3 张")
    charts = page.locator(".charts img")
    await expect(charts).to_have_count(3)
    for index in range(3):
        await expect(charts.nth(index)).to_have_js_property("complete", True)
        assert await charts.nth(index).evaluate("image => image.naturalWidth") > 100
    async with page.expect_download() as downloading:
        await page.locator("#download-xlsx").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    book = openpyxl.load_workbook(path)
    assert len(book.sheetnames) > 1
    cells = [str(cell) for row in book.worksheets[0].iter_rows(values_only=True) for cell in row if cell]
    assert "3" in cells
    await page.screenshot(path=screenshot_path("reports"), full_page=True)


async def test_a_supervisor_evaluates_an_agency_and_raises_an_improvement_its_worker_marks_done(
    site: Site,
) -> None:
    page = await site.signed_in("chief")
    await page.get_by_role("link", name=site.t("web.nav.agencies")).click()
    await page.get_by_label(site.t("web.report.period"), exact=True).select_option("last-month")
    for criterion, score in [("administration", 4), ("outcomes", 5), ("management", 3), ("impact", 4)]:
        await (
            page.get_by_role("group", name=site.t(f"agency.criterion.{criterion}"))
            .get_by_label(str(score), exact=True)
            .check()
        )
    await page.get_by_label(site.t("web.agencies.comment")).fill("记录完整，回访及时")
    await page.get_by_role("button", name=site.t("web.agencies.save")).click()
    await expect(page.locator("#done")).to_have_text(site.t("web.agencies.done.evaluated"))

    await page.get_by_label(site.t("web.agencies.what")).fill("每月按时更新服务记录")
    await page.get_by_label(site.t("web.agencies.due")).fill("2020-01-01")
    await page.get_by_role("button", name=site.t("web.agencies.raise")).click()
    await expect(page.locator("#error")).to_have_text(site.t("refusal.improvement.due_past"))
    await expect(page.get_by_label(site.t("web.agencies.what"))).to_have_value("每月按时更新服务记录")
    due = (site.console.world.clock.now() + timedelta(weeks=4)).date().isoformat()
    await page.get_by_label(site.t("web.agencies.due")).fill(due)
    await page.get_by_role("button", name=site.t("web.agencies.raise")).click()
    await expect(page.locator("#done")).to_have_text(site.t("web.agencies.done.raised"))
    await expect(page.locator("#improvements")).to_contain_text("每月按时更新服务记录")
    await page.screenshot(path=screenshot_path("agencies"), full_page=True)

    worker = await site.signed_in("agency_worker")
    await worker.get_by_role("link", name=site.t("web.nav.agencies")).click()
    await expect(worker.locator("#raise")).to_have_count(0)  # the agency's own staff raise none
    await worker.locator("#improvements li").first.get_by_role("button").click()
    await expect(worker.locator("#done")).to_have_text(site.t("web.agencies.done.closed"))
    await expect(worker.locator("#improvements")).to_contain_text(site.t("agency.improvement.done"))
    ((action, _),) = await site.console.world.casework.agency_reviews.actions_for(
        site.console.person("chief")
    )
    assert action.status.value == "done"


async def test_an_evaluator_reads_the_evaluation_without_its_small_figures(site: Site) -> None:
    await site.console.open_ticket("c1")
    page = await site.signed_in("evaluator")
    await page.goto(f"{site.url}/")
    await page.wait_for_url(re.compile(r"/reports$"))
    await expect(page.locator("#report-summary")).to_contain_text(site.t("report.suppressed", k=5))


async def test_a_worker_reads_no_evaluation(site: Site) -> None:
    page = await site.signed_in("wang")
    await expect(page.locator("#nav-reports")).to_have_count(0)
    response = await page.goto(f"{site.url}/reports")
    assert response is not None
    assert response.status == 403


# --- administration ------------------------------------------------------------------------------

AREAS_FILE = """areas:
  - {code: s1, name: 和平街道（新）, level: street, parent: d}
  - {code: s9, name: 东湖街道, level: street, parent: d, children: [
      {code: c9, name: 东湖社区, level: community}]}
"""


async def test_an_admin_imports_areas_after_seeing_what_would_change(site: Site, tmp_path: Path) -> None:
    file = tmp_path / "areas.yml"
    file.write_text(AREAS_FILE, encoding="utf-8")
    page = await site.signed_in("admin")
    await page.get_by_role("link", name=site.t("web.nav.admin")).click()
    await page.get_by_role("link", name=site.t("web.admin.areas"), exact=True).click()
    await page.get_by_label(site.t("web.admin.file")).set_input_files(str(file))
    await page.get_by_role("button", name=site.t("web.admin.import_preview")).click()
    preview = page.locator("#preview")
    await expect(preview.locator("tr.change-renamed")).to_contain_text("和平街道（新）")
    await expect(preview.locator("tr.change-new")).to_have_count(2)
    assert (await site.console.people.area(site.console.world.areas["s1"])).name == "和平街道"  # type: ignore[union-attr]
    await page.screenshot(path=screenshot_path("admin-areas-preview"), full_page=True)
    await page.get_by_role("button", name=site.t("web.admin.import_confirm")).click()
    await expect(page.locator("#imported")).to_have_text(
        site.t("web.admin.imported", created=2, updated=1, agencies=0)
    )
    await expect(page.locator("#tree")).to_contain_text("东湖社区")


async def test_an_areas_file_with_problems_changes_nothing_and_says_why(site: Site, tmp_path: Path) -> None:
    file = tmp_path / "areas.csv"
    file.write_text("code,name,name_en,level,parent\nc8,孤岛社区,,community,nowhere\n", encoding="utf-8")
    page = await site.signed_in("admin")
    await page.goto(f"{site.url}/admin/areas")
    await page.get_by_label(site.t("web.admin.file")).set_input_files(str(file))
    await page.get_by_role("button", name=site.t("web.admin.import_preview")).click()
    await expect(page.locator("#problems")).to_contain_text("nowhere")
    await expect(page.get_by_role("button", name=site.t("web.admin.import_confirm"))).to_have_count(0)


async def test_an_admin_creates_an_invite_and_sees_its_link_and_qr_code_once(site: Site) -> None:
    page = await site.signed_in("admin")
    await page.goto(f"{site.url}/admin/invites")
    await page.get_by_label(site.t("web.admin.role")).select_option("social_worker")
    await page.get_by_label(site.t("web.filter.area")).select_option("s1")
    await page.get_by_role("button", name=site.t("web.admin.invite_create")).click()
    code = await page.locator("#invite-code").inner_text()
    await expect(page.locator(".qr svg")).to_be_visible()
    await page.goto(f"{site.url}/admin/invites")
    await expect(page.locator("#issued")).to_have_count(0)
    assert code not in await page.content()  # shown once: only its hash is kept
    await page.locator("#invites button").first.click()
    await expect(page.locator("#invites")).to_contain_text(site.t("web.admin.expired"))


async def test_the_activity_log_shows_who_revealed_a_phone_number(site: Site) -> None:
    resident = site.console.person("resident")
    await site.console.people.set_phone(resident.id, "13812345678")
    await site.console.people.record_consents(resident.id, dict.fromkeys(ConsentPurpose, True))
    ticket = await site.console.open_ticket("c1")
    await site.console.world.casework.claim(site.console.person("wang"), ticket.id)
    await site.console.world.casework.show_phone(site.console.person("wang"), ticket.id)
    page = await site.signed_in("admin")
    await page.goto(f"{site.url}/admin/activity")
    await page.get_by_label(site.t("web.admin.name"), exact=True).select_option(
        str(site.console.person("wang").id)
    )
    await page.get_by_label(site.t("web.admin.action"), exact=True).select_option("phone_shown")
    await page.get_by_role("button", name=site.t("web.filter.apply")).click()
    rows = page.locator("#activity tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(site.t("worker.event.phone_shown"))
    await expect(rows.first).to_contain_text("wang")
    await page.screenshot(path=screenshot_path("admin-activity"), full_page=True)


async def test_closing_an_account_signs_its_person_out(site: Site) -> None:
    worker = await site.signed_in("wang")
    page = await site.signed_in("admin")
    await page.goto(f"{site.url}/admin/people")
    row = page.locator(f"#person-{site.console.person('wang').id}")
    await row.get_by_role("button", name=site.t("web.admin.deactivate")).click()
    await expect(page.locator(f"#person-{site.console.person('wang').id}")).to_contain_text(
        site.t("web.admin.inactive")
    )
    await worker.goto(f"{site.url}/queue/mine")
    await worker.wait_for_url(re.compile(r"/signin"))


async def test_an_admin_gives_a_worker_another_area_and_the_log_says_so(site: Site) -> None:
    elsewhere = await site.console.open_ticket("c3")  # 新华街道: not wang's until now
    wang = site.console.person("wang")
    page = await site.signed_in("admin")
    await page.goto(f"{site.url}/admin/people")
    await page.locator(f"#person-{wang.id}").get_by_role("link", name="wang").click()
    s2 = next(a for a in await site.console.people.areas() if a.id == site.console.world.areas["s2"])
    await page.get_by_label(s2.name, exact=True).check()
    await page.get_by_role("button", name=site.t("web.admin.person_save")).click()
    await page.wait_for_url(re.compile(r"/admin/people$"))
    await expect(page.locator(f"#person-{wang.id}")).to_contain_text(s2.name)

    await page.goto(f"{site.url}/admin/activity?person={wang.id}")
    await expect(page.locator("body")).to_contain_text(site.t("web.staff_event.staff_changed"))
    worker = await site.signed_in("wang")
    response = await worker.goto(f"{site.url}/case/{elsewhere.id}")
    assert response is not None
    assert response.status == 200

    await page.goto(f"{site.url}/admin/people/{wang.id}")
    for box in await page.locator('input[name="area"]').all():
        await box.uncheck()
    await page.get_by_role("button", name=site.t("web.admin.person_save")).click()
    await expect(page.locator("#error")).to_have_text(
        site.t("refusal.staff.needs_area", role=site.t("role.social_worker"))
    )


# --- the case's conversation, with the resident on Telegram -------------------------------------


@pytest.fixture(params=["polling", pytest.param("webhook", marks=[pytest.mark.postgres, pytest.mark.redis])])
async def telegram_site(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Running, str, Browser]]:
    """needsbot on Telegram (the Bot API fake) with its web console: by long polling on a port of its
    own, by webhook in the webhook's own server; and a browser."""
    async with bot_running(request, request.param, web=True) as bot, chromium() as browser:
        assert bot.settings.web_base_url is not None
        yield bot, bot.settings.web_base_url, browser


async def test_a_worker_gets_a_link_on_telegram_and_works_the_case_in_the_browser(
    telegram_site: tuple[Running, str, Browser],
) -> None:
    bot, url, browser = telegram_site
    worker = await bot.enrol(501, Role.SOCIAL_WORKER, area="heping")
    ticket = await bot.open_ticket(
        601, "房租交不起了", "房租困难", ServiceType.RESOURCE_LINKING, Urgency.NORMAL
    )
    resident = bot.account(601)

    worker.say("/web")
    sent = await worker.expect(fragment("web.link"))
    link = re.search(r"http://\S+", sent.text)
    assert link is not None
    assert link.group(0).startswith(url)
    page = await (await browser.new_context()).new_page()
    await page.goto(link.group(0))
    await page.get_by_role("button", name=label("web.link.submit")).click()
    await page.wait_for_url(re.compile(r"/account$"))

    await page.goto(f"{url}/case/{ticket.id}")
    await page.get_by_role("button", name=label("alert.button.claim")).click()
    await expect(page.locator("#done")).to_have_text(label("web.case.done.claim"))
    await page.get_by_label(label("web.case.words.message")).fill(
        "您好，我是社工，明天上午给您打电话可以吗？"
    )
    await page.get_by_role("button", name=label("worker.button.message")).click()
    await expect(page.locator("#done")).to_have_text(label("web.case.done.message"))
    await resident.expect("明天上午给您打电话可以吗", ticket.reference)

    resident.say("可以的，谢谢")
    await expect_thread(page, f"{url}/case/{ticket.id}", "可以的，谢谢")

    await page.get_by_label(label("web.case.words.resolve")).fill("已申请临时救助")
    await page.get_by_label(label("web.case.words.tell")).fill("临时救助已经批下来了")
    await page.get_by_role("button", name=label("worker.button.resolve")).click()
    await expect(page.locator("h1 small")).to_have_text(label("worker.status.resolved"))
    await resident.expect("临时救助已经批下来了")


async def expect_thread(page: Page, case_url: str, words: str) -> None:
    """The person's reply shows in the case's conversation (the page reloaded until it does)."""
    for _ in range(50):
        await page.goto(case_url)
        if await page.locator("ol.thread li.from-person", has_text=words).count():
            return
        await page.wait_for_timeout(200)
    raise AssertionError(f"{words!r} never reached the case's conversation")


async def test_a_resident_on_telegram_is_told_the_web_console_is_for_staff(
    telegram_site: tuple[Running, str, Browser],
) -> None:
    bot, _, _ = telegram_site
    resident = bot.account(602)
    await resident.agree_to_everything()
    resident.say("/web")
    await resident.expect(fragment("refusal.web.staff_only"))


# --- after `make run` ----------------------------------------------------------------------------


async def test_needsbot_run_serves_the_console_and_prints_a_link_for_the_demo_supervisor(
    sqlite_url: str, tmp_path: Path
) -> None:
    """What the README says `make run` gives: the console chat, and beside it the web console with a
    sign-in link for the demonstration's supervisor."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "REDIS_URL": "",
        "TELEGRAM_BOT_TOKEN": "",
        "NLU_MODEL_DIR": str(MODEL_DIR),
        "WEB_PORT": str(port),
    }
    database = create_database(sqlite_url)
    try:
        await directory.load_demo_if_empty(database, now=datetime.now(UTC))
    finally:
        await database.dispose()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=environment,
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    link = None
    try:
        async with asyncio.timeout(120):
            while link is None:
                line = (await process.stdout.readline()).decode()
                assert line, "needsbot run ended before printing a sign-in link"
                found = re.search(rf"http://127\.0\.0\.1:{port}/signin/\S+", line)
                link = found.group(0) if found else None
        async with chromium() as browser:
            page = await (await browser.new_context()).new_page()
            await page.goto(link)
            await page.get_by_role("button", name=label("web.link.submit")).click()
            await page.wait_for_url(re.compile(r"/account$"))
            await expect(page.locator(".who")).to_contain_text(label("role.supervisor"))
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 60)
