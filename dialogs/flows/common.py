"""Pieces several flows share: choosing an area or one of a list, yes/no answers, cancelling, a summary
to submit, service types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from casework.domain import ServiceType, VulnerabilityTag
from casework.people import LOCATION_REACH_METRES
from dialogs.engine import END, Ctx, Step
from dialogs.messages import Button

# The services a person chooses from, in the order they are offered.
SERVICE_CHOICES = (
    ServiceType.RESOURCE_LINKING,
    ServiceType.PSYCHOLOGICAL_SUPPORT,
    ServiceType.SOCIAL_INTEGRATION,
    ServiceType.CAPACITY_BUILDING,
    ServiceType.POLICY_ADVOCACY,
)
SITUATION_TAGS = (
    VulnerabilityTag.ELDER_ALONE,
    VulnerabilityTag.DISABILITY,
    VulnerabilityTag.LEFT_BEHIND_CHILD,
    VulnerabilityTag.SERIOUS_ILLNESS,
    VulnerabilityTag.UNEMPLOYMENT,
    VulnerabilityTag.SINGLE_PARENT,
    VulnerabilityTag.LOW_INCOME,
    VulnerabilityTag.HOUSING_DIFFICULTY,
)


# Typed answers to a yes/no question (a consent, a confirmation), in either language, case-blind.
YES = frozenset(
    {"是", "是的", "对", "好", "好的", "可以", "嗯", "同意", "我同意", "愿意", "行", "yes", "y", "ok", "okay"}
    | {"sure", "agree", "i agree", "accept", "i accept"}
)
NO = frozenset(
    {"不", "不是", "否", "不要", "不用", "不同意", "我不同意", "不愿意", "不行", "拒绝", "no", "n", "nope"}
    | {"disagree", "i disagree", "decline", "refuse"}
)


def begin_with_words(
    here: str, given: Callable[[Ctx, str], Awaitable[str | None]]
) -> Callable[[Ctx], Awaitable[str | None]]:
    """A flow's ``begin``: the words it was started with (``data["text_given"]``) go to ``given`` as if
    typed at ``here``; without them, ``here`` asks for them."""

    async def begin(ctx: Ctx) -> str | None:
        text = ctx.data.pop("text_given", None)
        if text:
            return await given(ctx, text)
        return here

    return begin


def text_step(
    question: str,
    missing: str,
    here: str,
    given: Callable[[Ctx, str], Awaitable[str | None]],
    *,
    account: bool = False,
) -> Step:
    """Ask ``question`` for the person's words; ``given`` takes them and says what next. A turn without
    words is answered with ``missing``."""

    async def prompt(ctx: Ctx) -> None:
        ctx.say(question)

    async def handle(ctx: Ctx) -> str | None:
        if not ctx.text:
            ctx.say(missing)
            return here
        return await given(ctx, ctx.text)

    return Step(prompt, handle, account=account)


def yes_no_step(question: str, here: str, answered: Callable[[Ctx, bool], Awaitable[str | None]]) -> Step:
    """Ask ``question`` with Yes and No (either may be typed: ``answer_yes_no``); ``answered`` takes the
    answer and says what next."""

    async def prompt(ctx: Ctx) -> None:
        ctx.ask(question, yes_no(ctx))

    async def handle(ctx: Ctx) -> str | None:
        answer = answer_yes_no(ctx)
        if answer is None:
            ctx.say("input.choose_button")
            return here
        return await answered(ctx, answer)

    return Step(prompt, handle)


def answer_anonymously_step(here: str, then: Callable[[Ctx], str | None]) -> Step:
    """After an anonymous report (``data["anonymous_ticket"]``): may a worker answer the person here?
    Only a way to reach this chat is kept, never shown to staff (``Casework.answer_anonymously``)."""

    async def answered(ctx: Ctx, answer: bool) -> str | None:
        if answer:
            await ctx.services.casework.answer_anonymously(ctx.person, int(ctx.data["anonymous_ticket"]))
            ctx.data["answer_me"] = True
        ctx.say("anonymous.reply_yes" if answer else "anonymous.reply_no")
        return then(ctx)

    return yes_no_step("anonymous.reply_ask", here, answered)


def service_label(kind: ServiceType | str) -> str:
    return f"service.{ServiceType(kind).value}"


def yes_no(ctx: Ctx) -> list[Button]:
    return [ctx.button("button.yes", "yes"), ctx.button("button.no", "no")]


def answer_yes_no(ctx: Ctx) -> bool | None:
    """A pressed yes/no, or a typed one (是/对/好/同意/yes/agree, 不/否/不同意/no/disagree)."""
    if ctx.pressed in ("yes", "no"):
        return ctx.pressed == "yes"
    text = (ctx.text or "").strip().strip("。.!！~～").casefold()
    if text in YES:
        return True
    if text in NO:
        return False
    return None


def tag_labels(ctx: Ctx) -> str:
    """The household situation chosen so far, in words."""
    return tag_words(ctx, ctx.data.get("tags", []))


def tag_words(ctx: Ctx, tags: Iterable[VulnerabilityTag | str]) -> str:
    """Situation tags in words, as a list in the person's language (独居老人、低收入)."""
    separator = ", " if ctx.lang == "en" else "、"
    return separator.join(
        ctx.services.catalog.text(f"tag.{VulnerabilityTag(tag).value}", ctx.lang, mark="") for tag in tags
    )


def clipped(text: str, limit: int) -> str:
    """The text, or its first ``limit`` characters and an ellipsis."""
    return text if len(text) <= limit else text[:limit] + "…"


def cancel_button(ctx: Ctx) -> Button:
    return ctx.button("button.cancel", "cancel")


def cancelled(ctx: Ctx, said: str = "flow.cancelled") -> bool:
    """Whether ``cancel_button`` was pressed (and the person told so, in ``said``)."""
    if ctx.pressed == "cancel":
        ctx.say(said)
        return True
    return False


def pressed_index(ctx: Ctx, prefix: str, count: int) -> int | None:
    """Which of ``count`` choices was pressed (its button ``<prefix>:<index>``), or None."""
    pressed = ctx.pressed or ""
    index = pressed.removeprefix(f"{prefix}:")
    if pressed.startswith(f"{prefix}:") and index.isdigit() and int(index) < count:
        return int(index)
    return None


def pick_step(
    question: str, here: str, choices: str, chosen: Callable[[Ctx, dict[str, Any]], Awaitable[str | None]]
) -> Step:
    """Choose one of ``data[choices]`` by its name (a button ``<here>:<index>`` each), or cancel;
    ``chosen`` takes the one chosen and says what next."""

    async def prompt(ctx: Ctx) -> None:
        buttons = [
            ctx.button(choice["name"], f"{here}:{index}", literal=True)
            for index, choice in enumerate(ctx.data[choices])
        ]
        ctx.ask(question, [*buttons, cancel_button(ctx)], per_row=1)

    async def handle(ctx: Ctx) -> str | None:
        if cancelled(ctx):
            return END
        index = pressed_index(ctx, here, len(ctx.data[choices]))
        if index is None:
            ctx.say("input.choose_button")
            return here
        return await chosen(ctx, ctx.data[choices][index])

    return Step(prompt, handle)


def submit_buttons(ctx: Ctx, submit: str) -> list[Button]:
    """A summary's buttons: ``submit`` (the words on the Submit button) and Cancel."""
    return [ctx.button(submit, "submit"), cancel_button(ctx)]


def submit_or_cancel(ctx: Ctx) -> bool | None:
    """The answer to a summary's Submit / Cancel: True to submit, False when cancelled (and said so),
    None when neither was given (and the person was asked to choose)."""
    answer = answer_yes_no(ctx)
    if ctx.pressed == "cancel" or answer is False:
        ctx.say("flow.cancelled")
        return False
    if ctx.pressed != "submit" and answer is not True:
        ctx.say("input.choose_button")
        return None
    return True


def submit_step(
    prompt: Callable[[Ctx], Awaitable[None]], here: str, submit: Callable[[Ctx], Awaitable[str | None]]
) -> Step:
    """A summary (``prompt``, with ``submit_buttons``) the person submits or cancels: on Submit,
    ``submit`` runs and says what next; Cancel ends the flow."""

    async def handle(ctx: Ctx) -> str | None:
        decision = submit_or_cancel(ctx)
        if decision is None:
            return here
        return await submit(ctx) if decision else END

    return Step(prompt, handle)


async def ask_area(ctx: Ctx, key: str = "area.ask") -> None:
    """Buttons down the area tree from where the person has got to; a community name may be typed."""
    parent = ctx.data.get("area_parent")
    areas = await ctx.services.people.area_children(parent)
    while len(areas) == 1 and (below := await ctx.services.people.area_children(areas[0].id)):
        # A single choice is no choice: go down to where there are several.
        parent, areas = areas[0].id, below
        ctx.data["area_parent"] = ctx.data["area_top"] = parent
    buttons = [ctx.button(area.label(ctx.lang), f"area:{area.id}", literal=True) for area in areas]
    if parent is not None and parent != ctx.data.get("area_top"):
        buttons.append(ctx.button("button.back", "area:up"))
    located = await ctx.services.people.locates_areas()
    ctx.ask(key, buttons, by_location="area.by_location" if located else "")


def distance_text(ctx: Ctx, metres: int) -> str:
    """``约 300 米`` / ``1.2 km``: to the nearest 50 m under a kilometre, else to 100 m."""
    catalog = ctx.services.catalog
    if metres < 1000:
        return catalog.text("area.metres", ctx.lang, n=max(50, round(metres / 50) * 50))
    return catalog.text("area.kilometres", ctx.lang, n=f"{metres / 1000:.1f}")


async def locate(ctx: Ctx, latitude: float, longitude: float) -> None:
    """A shared location: offer the nearest community for confirmation (``data["area_guess"]``), or
    say none is near. Only the community found is kept, never the location."""
    people = ctx.services.people
    nearby = await people.nearest_area(latitude, longitude)
    if nearby is not None:
        ctx.data["area_guess"] = {"id": nearby.area.id, "metres": nearby.metres}
    elif await people.locates_areas():
        ctx.say("area.location_far", reach=distance_text(ctx, LOCATION_REACH_METRES))
    else:
        ctx.say("area.location_unmatched")


async def confirm_location(ctx: Ctx, guess: dict[str, int]) -> bool:
    """Ask whether the community found from a location is right; False when it has gone meanwhile."""
    area = await ctx.services.people.area(guess["id"])
    if area is None:
        return False
    ctx.ask(
        "area.location_confirm",
        yes_no(ctx),
        area=area.label(ctx.lang),
        distance=distance_text(ctx, guess["metres"]),
    )
    return True


async def handle_area(ctx: Ctx) -> int | None:
    """The community chosen, or None while the person is still choosing (the prompt is repeated)."""
    pressed = ctx.pressed or ""
    if pressed == "area:up":
        parent = await ctx.services.people.area(ctx.data.get("area_parent") or 0)
        ctx.data["area_parent"] = parent.parent_id if parent else None
        return None
    if pressed.startswith("area:"):
        area_id = int(pressed.removeprefix("area:"))
        children = await ctx.services.people.area_children(area_id)
        if children:
            ctx.data["area_parent"] = area_id
            return None
        return area_id
    if ctx.text:
        matches = await ctx.services.people.match_area(ctx.text)
        leaves = [area for area in matches if not await ctx.services.people.area_children(area.id)]
        if len(leaves) >= 1 and (len(leaves) == 1 or leaves[0].name.startswith(ctx.text.strip())):
            return leaves[0].id
        if matches:
            ctx.data["area_parent"] = matches[0].parent_id if leaves else matches[0].id
            ctx.say("area.did_you_mean")
            return None
        ctx.say("area.unknown", typed=ctx.text[:40])
        return None
    ctx.say("input.choose_button")
    return None


async def place_crisis(ctx: Ctx, area_id: int) -> None:
    """An urgent ticket opened earlier in this flow, before its community was known, moves there and
    alerts its staff (``Casework.locate_crisis``)."""
    ticket_id = ctx.data.get("crisis_ticket")
    if ticket_id is None or ctx.data.get("crisis_placed") == area_id:
        return
    ctx.data["crisis_placed"] = area_id
    reach = await ctx.services.casework.locate_crisis(ctx.person, int(ticket_id), area_id)
    area = await ctx.services.people.area(area_id)
    ctx.say(f"crisis.placed.{reach.value}", area=area.label(ctx.lang) if area else "")


def area_step(
    question: str,
    here: str,
    then: str | None,
    chosen: Callable[[Ctx, int], Awaitable[str | None]] | None = None,
) -> Step:
    """Ask for the community (kept as ``data["area_id"]``), then go to ``then`` or let ``chosen`` decide."""

    async def prompt(ctx: Ctx) -> None:
        guess = ctx.data.get("area_guess")
        if guess is not None and await confirm_location(ctx, guess):
            return
        ctx.data.pop("area_guess", None)
        await ask_area(ctx, question)

    async def handle(ctx: Ctx) -> str | None:
        turn = ctx.turn
        if turn.latitude is not None and turn.longitude is not None:
            await locate(ctx, turn.latitude, turn.longitude)
            return here
        guess = ctx.data.pop("area_guess", None)
        answer = answer_yes_no(ctx) if guess is not None else None
        if answer is False:
            return here  # not that one: choose from the list
        area_id = guess["id"] if answer is True else await handle_area(ctx)
        if area_id is None:
            return here
        ctx.data["area_id"] = area_id
        await place_crisis(ctx, area_id)
        return await chosen(ctx, area_id) if chosen is not None else then

    return Step(prompt, handle)


def situation_step(question: str, here: str, then: str) -> Step:
    """The household's situation as tags (``data["tags"]``), toggled on and off until "done"."""

    async def prompt(ctx: Ctx) -> None:
        chosen = set(ctx.data.get("tags", []))
        buttons = [
            ctx.button(f"tag.{tag.value}", f"tag:{tag.value}", mark="✓ " if tag.value in chosen else "")
            for tag in SITUATION_TAGS
        ]
        buttons.append(ctx.button("button.done", "tag:done"))
        ctx.ask(question, buttons)

    async def handle(ctx: Ctx) -> str | None:
        pressed = ctx.pressed or ""
        if pressed == "tag:done" or answer_yes_no(ctx) is False:
            return then
        if pressed.startswith("tag:"):
            ctx.data["tags"] = sorted(
                set(ctx.data.get("tags", [])) ^ {VulnerabilityTag(pressed.removeprefix("tag:")).value}
            )
            return here
        ctx.say("input.choose_button")
        return here

    return Step(prompt, handle)


def service_step(
    here: str,
    then: str,
    *,
    suggestions: str,
    ask: str,
    ask_suggested: str,
    other: str,
    chosen: Callable[[Ctx], None] | None = None,
) -> Step:
    """Choose a service type (``data["service_type"]``): the suggested ones first (``data[suggestions]``),
    with a way to see them all (``SERVICE_CHOICES``); a choice goes to ``then``."""

    async def prompt(ctx: Ctx) -> None:
        suggested = ctx.data.get(suggestions) or []
        offered = [ServiceType(kind) for kind in suggested] or list(SERVICE_CHOICES)
        buttons = [ctx.button(service_label(kind), f"type:{kind.value}") for kind in offered]
        if suggested:
            buttons.append(ctx.button(other, "type:other"))
        ctx.ask(ask_suggested if suggested else ask, buttons, per_row=1)

    async def handle(ctx: Ctx) -> str | None:
        pressed = ctx.pressed or ""
        if pressed == "type:other":
            ctx.data[suggestions] = []
            return here
        if pressed.startswith("type:"):
            ctx.data["service_type"] = ServiceType(pressed.removeprefix("type:")).value
            if chosen is not None:
                chosen(ctx)
            return then
        ctx.say("input.choose_button")
        return here

    return Step(prompt, handle)
