"""Every route of the web console, for every kind of person: who gets the page, who is refused, and
who is sent to sign in. HTTP level (the ASGI app under httpx); the browser tests drive the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest

from bot.web.sessions import CSRF_HEADER
from casework.case_file import NewGoal
from casework.domain import AgencyCriterion, Role, ServiceType, Ticket
from tests.web_console import Console, build_console

S = 200  # the page
NO = 403  # refused: the role, the area or the case is not theirs
IN = 303  # GET without a session: to the sign-in page
OUT = 401  # a change without a session
BACK = 303  # done, and back to the page it was done from
NOT_NOW = 409  # the ticket's status does not allow it (a worker closes a case once it is resolved)
KEPT = 204  # the session kept alive, nothing to show
# None: nobody signed in. The resident and the volunteer cannot sign in; each comes with a session row
# forged into the store, which the console must refuse all the same.
PEOPLE = ("wang", "zhou", "chief", "evaluator", "admin", None, "resident", "volunteer")
FORGED = frozenset({"resident", "volunteer"})

# route → what each of PEOPLE gets. wang works in 和平街道 (s1), where the tickets are; zhou in 新华街道
# (s2); chief supervises s1; the evaluator is given s1; the admin is everywhere.
MATRIX: dict[str, tuple[int, ...]] = {
    #                           wang zhou chief eval admin nobody resident volunteer
    "GET /": (BACK, BACK, BACK, BACK, BACK, IN, IN, IN),  # to one's first page
    "POST /session/alive": (KEPT, KEPT, KEPT, KEPT, KEPT, OUT, OUT, OUT),
    "GET /queue/mine": (S, S, S, NO, S, IN, IN, IN),
    "GET /queue/unclaimed": (S, S, S, NO, S, IN, IN, IN),
    "GET /queue/team": (S, S, S, NO, S, IN, IN, IN),
    "GET /queue/overdue": (S, S, S, NO, S, IN, IN, IN),
    "GET /queue/crisis": (S, S, S, NO, S, IN, IN, IN),
    "GET /case/{new}": (S, NO, S, NO, S, IN, IN, IN),
    "GET /case/{held}": (S, NO, S, NO, S, IN, IN, IN),
    "POST /case/{new}/claim": (S, NO, NO, NO, NO, OUT, OUT, OUT),
    "POST /case/{new}/assign": (NO, NO, S, NO, S, OUT, OUT, OUT),
    "POST /case/{held}/note": (S, NO, S, NO, S, OUT, OUT, OUT),
    "POST /case/{held}/message": (S, NO, S, NO, S, OUT, OUT, OUT),
    "POST /case/{held}/resolve": (S, NO, S, NO, S, OUT, OUT, OUT),
    "POST /case/{held}/close": (NOT_NOW, NO, S, NO, S, OUT, OUT, OUT),
    "POST /case/{held}/refer": (S, NO, S, NO, S, OUT, OUT, OUT),
    "POST /case/{done}/supervise": (NO, NO, S, NO, S, OUT, OUT, OUT),
    "GET /case/{held}/file": (S, NO, S, NO, S, IN, IN, IN),
    "GET /case/{held}/assess": (S, NO, S, NO, S, IN, IN, IN),
    "POST /case/{held}/assess": (BACK, NO, BACK, NO, BACK, OUT, OUT, OUT),
    "POST /case/{held}/file/goal": (BACK, NO, BACK, NO, BACK, OUT, OUT, OUT),
    "POST /case/{held}/file/goal/{goal}": (BACK, NO, BACK, NO, BACK, OUT, OUT, OUT),
    "POST /case/{held}/file/review": (BACK, NO, BACK, NO, BACK, OUT, OUT, OUT),
    "POST /queue/bulk": (NO, NO, S, NO, S, OUT, OUT, OUT),
    "GET /agencies": (S, S, S, S, S, IN, IN, IN),
    "POST /agencies/evaluate": (NO, NO, BACK, BACK, BACK, OUT, OUT, OUT),
    "POST /agencies/improvements": (NO, NO, BACK, BACK, BACK, OUT, OUT, OUT),
    "POST /agencies/improvements/{action}/done": (NO, NO, BACK, BACK, BACK, OUT, OUT, OUT),
    "GET /reports": (NO, NO, S, S, S, IN, IN, IN),
    "GET /reports/chart/needs.png": (NO, NO, S, S, S, IN, IN, IN),
    "GET /reports/download.xlsx": (NO, NO, S, S, S, IN, IN, IN),
    "GET /reports/download.csv": (NO, NO, S, S, S, IN, IN, IN),
    "GET /admin/people": (NO, NO, NO, NO, S, IN, IN, IN),
    "GET /admin/people/{li}": (NO, NO, NO, NO, S, IN, IN, IN),
    "POST /admin/people/{li}": (NO, NO, NO, NO, BACK, OUT, OUT, OUT),
    "POST /admin/people/{li}/active": (NO, NO, NO, NO, BACK, OUT, OUT, OUT),
    "POST /admin/people/{li}/sessions": (NO, NO, NO, NO, BACK, OUT, OUT, OUT),
    "GET /admin/invites": (NO, NO, NO, NO, S, IN, IN, IN),
    "POST /admin/invites": (NO, NO, NO, NO, S, OUT, OUT, OUT),
    "POST /admin/invites/{invite}/revoke": (NO, NO, NO, NO, BACK, OUT, OUT, OUT),
    "GET /admin/areas": (NO, NO, NO, NO, S, IN, IN, IN),
    "POST /admin/areas": (NO, NO, NO, NO, S, OUT, OUT, OUT),
    "GET /admin/agencies": (NO, NO, NO, NO, S, IN, IN, IN),
    "POST /admin/agencies": (NO, NO, NO, NO, BACK, OUT, OUT, OUT),
    "GET /admin/oncall": (NO, NO, NO, NO, S, IN, IN, IN),
    "POST /admin/oncall": (NO, NO, NO, NO, BACK, OUT, OUT, OUT),
    "POST /admin/oncall/{entry}/remove": (NO, NO, NO, NO, BACK, OUT, OUT, OUT),
    "GET /admin/policy": (NO, NO, NO, NO, S, IN, IN, IN),
    "GET /admin/activity": (NO, NO, NO, NO, S, IN, IN, IN),
    "GET /account": (S, S, S, S, S, IN, IN, IN),
    "POST /account/password": (S, S, S, S, S, OUT, OUT, OUT),
    "POST /signout": (BACK, BACK, BACK, BACK, BACK, OUT, OUT, OUT),
}
FORMS = {
    "assign": {"worker": "{li}"},
    "note": {"text": "电话联系了，下周上门"},
    "message": {"text": "您好，我是社工，下周二上门可以吗？"},
    "resolve": {"outcome": "已申请临时救助"},
    "close": {"text": "重复工单"},
    "refer": {"target": "person:{li}", "text": "李社工更熟悉"},
    "supervise": {
        "assessment_done": "2",
        "plan_followed": "1",
        "kept_informed": "2",
        "outcome_recorded": "2",
        "text": "做得好",
    },
    "assess": {
        "members.0.relationship": "self",
        "members.0.age_band": "age_60_79",
        "income_sources": "pension",
        "income_adequacy": "tight",
        "housing": "rent",
        "housing_condition": "adequate",
        "care_needs": "none",
        "schooling": "no_children",
        "employment": "retired",
        "family_support": "some",
        "neighbour_support": "some",
        "isolation": "not_isolated",
        "psychological_state": "stable",
        "risk_level": "low",
        **{f"needs.{kind.value}": "low" for kind in ServiceType},
    },
    "goal": {"service": "resource_linking", "title": "申请临时救助", "owner": "worker"},
    "{goal}": {"status": "under_way"},
    "review": {"progress.{goal}": "better", "next": "4"},
    "evaluate": {
        "agency": "{agency}",
        "period": "this-month",
        **{criterion.value: "4" for criterion in AgencyCriterion},
        "comment": "记录完整",
    },
    "improvements": {"agency": "{agency}", "what": "按时更新服务记录", "due": "2099-01-01"},
    "done": {"note": "已整改"},
    "bulk": {"action": "close", "note": "重复工单", "ticket": "{new}"},
    "password": {"password": "a long enough password", "login": "someone"},
    "{li}": {"role": "social_worker", "area": "{s1}"},  # as li is: nothing changes for the routes after
    "active": {"active": "1"},  # li is active: opened again, nothing changes for the routes after
    "invites": {"role": "social_worker", "area": "s1", "days": "7"},
    "areas": {
        "content": "areas:\n  - {code: s9, name: 新区街道, level: street, parent: d}\n",
        "name": "new.yml",
    },
    "agencies": {"name": "新的社工机构", "service": "resource_linking", "area": "s1"},
    "oncall": {"person": "{li}", "hours": "20:00-08:00"},
}


@pytest.fixture
async def console(sqlite_url: str) -> AsyncIterator[Console]:
    from storage import create_database

    database = create_database(sqlite_url)
    try:
        yield await build_console(database)
    finally:
        await database.dispose()


async def tickets(console: Console) -> dict[str, Ticket]:
    new = await console.open_ticket("c1")
    held = await console.open_ticket("c2", reporter_id=console.person("neighbour").id)
    await console.world.casework.claim(console.person("wang"), held.id)
    await console.world.casework.add_goal(
        console.person("wang"), held.id, NewGoal(ServiceType.SOCIAL_INTEGRATION, "每周一次电话问候")
    )
    done = await console.open_ticket("c1", reporter_id=console.person("volunteer").id)
    await console.world.casework.claim(console.person("wang"), done.id)
    await console.world.casework.resolve(console.person("wang"), done.id, "已办结")
    return {"new": new, "held": held, "done": done}


@pytest.mark.parametrize("who", PEOPLE, ids=lambda who: who or "nobody")
async def test_each_route_answers_each_person_as_the_access_rules_say(
    console: Console, who: str | None
) -> None:
    """Every route of the matrix in turn, each on tickets of its own (one world a person: building
    one is what takes the time); every answer that differs from the matrix is listed."""
    column = PEOPLE.index(who)
    token = None
    if who in FORGED:
        token = await console.forged_token(who)
    elif who is not None:
        token = await console.token_for(who)
    wrong = []
    async with console.client(token) as client:
        for route, expected in MATRIX.items():
            answer = await _ask(console, client, route, who, token)
            signing_in = answer.status_code == IN and (who is None or who in FORGED)
            if answer.status_code != expected[column] or (
                signing_in and not answer.headers["location"].startswith("/signin")
            ):
                wrong.append(f"{route}: {answer.status_code}, not {expected[column]}: {answer.text[:300]}")
    assert wrong == []


async def _ask(
    console: Console, client: httpx.AsyncClient, route: str, who: str | None, token: str | None
) -> httpx.Response:
    method, path = route.split(" ")
    needs_tickets = "/case/" in path or path == "/queue/bulk"
    found = await tickets(console) if needs_tickets else {}
    goal = ""
    if "held" in found:
        the_file = await console.world.casework.case_file(console.person("admin"), found["held"].id)
        assert the_file is not None
        goal = str(the_file.goals[0].id)
    admin = console.person("admin")
    administration = console.world.casework.administration
    invite = entry = ""
    if "{invite}" in path:
        issued = await administration.invite(
            admin, role=Role.SOCIAL_WORKER, area_code="s1", valid_for=timedelta(days=7)
        )
        invite = str(issued.invite.id)
    if "{entry}" in path:
        on_call = await administration.add_on_call(
            admin, person_id=console.person("li").id, hours="20:00-08:00"
        )
        entry = str(on_call.entry.id)
    action = ""
    if "{action}" in path:
        raised, _ = await console.world.casework.agency_reviews.raise_action(
            console.person("admin"), console.world.agency.id, "按时更新服务记录", date(2099, 1, 1)
        )
        action = str(raised.id)
    form = dict(FORMS.get(path.rsplit("/", 1)[-1], {}))
    path = path.format(
        li=console.person("li").id,
        goal=goal,
        action=action,
        invite=invite,
        entry=entry,
        **{name: ticket.id for name, ticket in found.items()},
    )
    if method == "GET":
        return await client.get(path)
    headers = {CSRF_HEADER: "forged" if who in FORGED else await console.csrf_of(token)} if token else {}
    li = str(console.person("li").id)
    s1 = str(console.world.areas["s1"])
    form = {
        name.replace("{goal}", goal): value.replace("{li}", li)
        .replace("{goal}", goal)
        .replace("{s1}", s1)
        .replace("{agency}", str(console.world.agency.id))
        for name, value in form.items()
    }
    if "ticket" in form:
        form["ticket"] = str(found["new"].id)
    if who is not None and who not in FORGED and "login" in form:
        form["login"] = who
    return await client.post(path, data=form, headers=headers)


async def test_a_forbidden_case_is_refused_in_the_readers_words(console: Console) -> None:
    ticket = await console.open_ticket("c3")  # 新华街道: not wang's
    async with console.client(await console.token_for("wang")) as client:
        response = await client.get(f"/case/{ticket.id}")
    assert response.status_code == NO
    assert "辖区" in response.text  # refusal.ticket.outside_your_areas, in Chinese
    async with console.client(await console.token_for("wang")) as client:
        client.cookies.set("needsbot_lang", "en")
        response = await client.get(f"/case/{ticket.id}")
    assert response.status_code == NO
    assert "area" in response.text


async def test_closing_an_account_that_holds_cases_is_refused_above_the_list(console: Console) -> None:
    held = await console.open_ticket("c1")
    wang = console.person("wang")
    await console.world.casework.claim(wang, held.id)
    token = await console.token_for("admin")
    async with console.client(token) as client:
        response = await client.post(
            f"/admin/people/{wang.id}/active",
            data={"active": "0"},
            headers={CSRF_HEADER: await console.csrf_of(token)},
        )
    assert response.status_code == NOT_NOW
    said = console.catalog.text("refusal.staff.closing_holds_cases", "zh")
    assert f'<p class="error" role="alert" id="error">{said}</p>' in response.text
    assert 'id="people"' in response.text  # the list, below it
    assert (await console.people.get(wang.id)).active


async def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    ticket = await console.open_ticket("c1")
    token = await console.token_for("wang")
    async with console.client(token) as client:
        missing = await client.post(f"/case/{ticket.id}/claim")
        wrong = await client.post(f"/case/{ticket.id}/claim", data={"csrf": "not-the-token"})
        header = await client.post(f"/case/{ticket.id}/claim", headers={CSRF_HEADER: "not-the-token"})
    assert [missing.status_code, wrong.status_code, header.status_code] == [NO, NO, NO]
    assert (await console.world.casework.status(console.person("wang"), ticket.id)).assignee_id is None
    async with console.client(token) as client:
        right = await client.post(f"/case/{ticket.id}/claim", data={"csrf": await console.csrf_of(token)})
    assert right.status_code == S
    assert (await console.world.casework.status(console.person("wang"), ticket.id)).assignee_id == (
        console.person("wang").id
    )


async def test_a_sign_in_link_opened_by_a_preview_is_not_spent(console: Console) -> None:
    token = await console.sign_in.issue_link(console.person("chief"))
    async with console.client() as client:
        preview = await client.get(f"/signin/{token}")
        assert preview.status_code == S
        used = await client.post(f"/signin/{token}")
        assert used.status_code == IN
        assert "needsbot_session" in used.cookies
        again = await client.post(f"/signin/{token}")
    assert again.status_code == 410


async def test_the_session_cookie_is_http_only_and_same_site(console: Console) -> None:
    token = await console.sign_in.issue_link(console.person("chief"))
    async with console.client() as client:
        response = await client.post(f"/signin/{token}")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # the test console is served over http; https makes it Secure


async def test_a_wrong_password_is_answered_without_saying_which_part_was_wrong(console: Console) -> None:
    await console.sign_in.set_password(console.person("chief"), "a long enough password", login="chief")
    async with console.client() as client:
        wrong = await client.post("/signin", data={"login": "chief", "password": "not it at all"})
        nobody = await client.post("/signin", data={"login": "nobody", "password": "not it at all"})
        right = await client.post("/signin", data={"login": "chief", "password": "a long enough password"})
    assert wrong.status_code == nobody.status_code == OUT
    assert console.catalog.text("refusal.web.bad_sign_in", "zh") in wrong.text
    assert right.status_code == IN
    assert right.headers["location"] == "/"


async def test_going_back_after_signing_in_stays_on_this_site(console: Console) -> None:
    await console.sign_in.set_password(console.person("chief"), "a long enough password", login="chief")
    async with console.client() as client:
        response = await client.post(
            "/signin",
            data={"login": "chief", "password": "a long enough password", "next": "//evil.example/x"},
        )
    assert response.headers["location"] == "/"
