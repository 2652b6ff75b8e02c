"""The dialog engine: a person's turn in, replies out, through flows written as tables of states.

A flow is a table ``state → Step(prompt, handle)``: ``prompt`` says what the state asks, ``handle``
takes the person's answer and names the next state (or ends the flow). Global commands work in every
state; a critical message is answered with hotline numbers at once, whatever the flow is doing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from casework.clock import Clock
from casework.domain import WORKER_ROLES, Channel, DomainError, Person, Role
from casework.people import People
from casework.service import Casework
from dialogs.catalog import Catalog
from dialogs.messages import Button, Reply, ReportFile, rows
from dialogs.state import DialogState, DialogStore, ForgetfulStore, PersonLocks
from dialogs.turn import Turn
from nlu.crisis import CrisisScreener
from nlu.policy import PolicyKnowledgeBase
from nlu.types import Parse
from nlu.understanding import IntentClassifier

log = logging.getLogger(__name__)

END: str | None = None
# Workers write about the people they help; their words are not screened as their own crisis.
MAX_TEXT = 4000  # longer messages are cut, with a note


class WebLinks(Protocol):
    """The web console's one-time sign-in links, made by the channel that serves the console."""

    async def sign_in_link(self, person: Person) -> str:
        """A link that signs ``person`` in once, soon; ``DomainError`` when they may not sign in."""


@dataclass
class Services:
    nlu: IntentClassifier
    screener: CrisisScreener
    knowledge: PolicyKnowledgeBase
    casework: Casework
    people: People
    catalog: Catalog
    clock: Clock
    web: WebLinks | None = None  # None: no web console is served


class Ctx:
    """One turn as a flow sees it: who, what they said or pressed, the flow's data, and a way to reply."""

    def __init__(self, engine: DialogEngine, turn: Turn, person: Person, state: DialogState) -> None:
        self.engine = engine
        self.services = engine.services
        self.turn = turn
        self.person = person
        self.state = state
        self.replies: list[Reply] = []
        self._parse: Parse | None = None
        self._pressed: str | None = None
        self.forgotten = False
        if turn.button is not None:
            stamp, _, value = turn.button.partition("|")
            if stamp and stamp == self._stamp():
                self._pressed = value

    def take_press_of(self, state: str) -> None:
        """Take the press as the answer to ``state``, a later question of this flow's run."""
        self.state.state = state
        stamp, _, value = (self.turn.button or "").partition("|")
        if stamp == self._stamp():
            self._pressed = value

    def _stamp(self) -> str:
        """What a button of this flow's current question carries: a button of an earlier question,
        or of a flow since ended, is recognised as stale."""
        return f"{self.state.token}.{self.state.state}"

    @property
    def lang(self) -> str:
        return self.state.language or self.person.language or self.engine.default_language

    @property
    def data(self) -> dict[str, Any]:
        return self.state.data

    @property
    def text(self) -> str | None:
        """What the person typed (commands excluded), cut to a sane length."""
        if self.turn.text is None or self.turn.command is not None:
            return None
        stripped = self.turn.text.strip()
        return stripped[:MAX_TEXT] if stripped else None

    @property
    def pressed(self) -> str | None:
        """The value of the button pressed, if it belongs to the flow now running."""
        return self._pressed

    def say(self, key: str, *button_rows: tuple[Button, ...] | list[Button], **args: Any) -> None:
        self.replies.append(Reply(key, args, tuple(tuple(row) for row in button_rows)))

    def ask(self, key: str, buttons: list[Button], per_row: int = 2, **args: Any) -> None:
        self.replies.append(Reply(key, args, rows(buttons, per_row)))

    def attach(self, files: Sequence[ReportFile]) -> None:
        """Send ``files`` after the last reply."""
        last = self.replies[-1]
        self.replies[-1] = replace(last, files=(*last.files, *files))

    def button(self, label: str, value: str, *, literal: bool = False, **args: Any) -> Button:
        return Button(label=label, value=f"{self._stamp()}|{value}", args=args, literal=literal)

    def action(self, label: str, name: str, argument: str | int, **args: Any) -> Button:
        """A button that works outside any flow (it names its action and its subject)."""
        return action_button(label, name, argument, **args)

    async def parse(self, text: str) -> Parse:
        if self._parse is None or self._parse.text != text:
            self._parse = await self.services.nlu.parse(text, self.lang if self.state.language else None)
        return self._parse

    async def start(self, flow: str, data: dict[str, Any] | None = None) -> None:
        await self.engine.start_flow(self, flow, data)

    def end(self) -> None:
        self.engine.clear(self.state)

    def forget(self) -> None:
        """The person's data was erased: the flow ends and nothing of the conversation is kept (no state
        is saved after this turn, and a store that can forget the one it has does)."""
        self.forgotten = True
        self.end()


def action_button(label: str, name: str, argument: str | int, **args: Any) -> Button:
    return Button(label=label, value=f"{ACTION_PREFIX}{name}:{argument}", args=args)


@dataclass(frozen=True, slots=True)
class Step:
    prompt: Callable[[Ctx], Awaitable[None]]
    handle: Callable[[Ctx], Awaitable[str | None]]
    # The answer is the person's own account of the situation: once the flow has opened its urgent
    # ticket, words about danger answer the question too, instead of being asked for again.
    account: bool = False


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    start: str
    steps: dict[str, Step]
    roles: frozenset[Role] = field(default_factory=lambda: frozenset(Role))
    # Runs before the first prompt; may fill data or choose another first state (or end at once).
    begin: Callable[[Ctx], Awaitable[str | None]] | None = None
    # Whether what is typed here is screened for crisis: not in a worker's case notes, which speak of
    # the person they help.
    screen_text: bool = True
    # Whether a press on a later question of this run is taken as that question's answer: for
    # questions each recorded on its own as it is answered (the consents), so that a dialog state a
    # crash lost after the commit (still at the question before, though the person was shown the
    # next) does not turn their answer away. An earlier question's button stays stale (a double tap).
    later_questions: bool = False

    def comes_after(self, question: str, current: str) -> bool:
        """Whether ``question`` is a step of this flow after ``current`` (in the order of ``steps``)."""
        order = list(self.steps)
        return question in order and current in order and order.index(question) > order.index(current)


Command = Callable[[Ctx, str], Awaitable[None]]
# A button on an alert (claim this ticket, rate that one): its value is "!name:argument", outside any flow.
Action = Callable[[Ctx, str], Awaitable[None]]
ACTION_PREFIX = "!"
TextRouter = Callable[[Ctx, str], Awaitable[None]]
Outbound = Callable[[str, list[Reply], str], Awaitable[None]]


class DialogEngine:
    def __init__(
        self,
        services: Services,
        store: DialogStore,
        locks: PersonLocks,
        *,
        flows: dict[str, Flow],
        commands: dict[str, Command],
        actions: dict[str, Action],
        route_text: TextRouter,
        on_crisis: Callable[[Ctx, Parse | None], Awaitable[bool]],
        default_language: str = "zh",
        remind_after: timedelta = timedelta(minutes=30),
        expire_after: timedelta = timedelta(hours=2),
    ) -> None:
        self.services = services
        self.store = store
        self.locks = locks
        self.flows = flows
        self.commands = commands
        self.actions = actions
        self.route_text = route_text
        self.on_crisis = on_crisis
        self.default_language = default_language
        self.remind_after = remind_after
        self.expire_after = expire_after

    # --- the turn ---------------------------------------------------------------------------------

    async def handle(self, turn: Turn) -> tuple[list[Reply], str]:
        """Replies to one turn, and the language to render them in."""
        async with self.locks.hold(turn.key):
            return await self.handle_held(turn)

    async def handle_held(self, turn: Turn) -> tuple[list[Reply], str]:
        """``handle``, for a caller already holding the person's lock (``locks.hold(turn.key)``): one
        that holds it around the transaction the turn commits in, so that a dialog state the store
        writes after the commit is written before the person's next turn reads it."""
        language = turn.language_hint if turn.language_hint in ("zh", "en") else self.default_language
        person, _ = await self.services.people.identify(
            turn.user_id, channel=Channel(turn.channel), display_name=turn.display_name, language=language
        )
        state = await self.store.load(turn.key)
        found = state.to_json()
        ctx = Ctx(self, turn, person, state)
        try:
            await self._dispatch(ctx)
        except DomainError as error:
            log.info("turn refused: %s", error.code)  # the code alone: its arguments may name someone
            ctx.replies.append(self.services.catalog.refusal_reply(error))
        if ctx.forgotten:
            if isinstance(self.store, ForgetfulStore):
                await self.store.forget(turn.key)
            return ctx.replies, ctx.lang
        # A flow under way is saved every turn (its last activity decides when it is swept), and so is
        # a chosen language (a store may let an untouched state expire); otherwise only a change is: a
        # question answered outside any flow, or /help, leaves nothing to save.
        if state.active or state.language is not None or state.to_json() != found:
            state.updated_at = self.services.clock.now()
            state.reminded = False
            await self.store.save(turn.key, state)
        return ctx.replies, ctx.lang

    async def _dispatch(self, ctx: Ctx) -> None:
        turn = ctx.turn
        if turn.text is not None and turn.text.strip() and turn.command is None:
            if len(turn.text) > MAX_TEXT:
                ctx.say("input.too_long", limit=MAX_TEXT)
            running = self.flows.get(ctx.state.flow or "")
            screened = ctx.person.role not in WORKER_ROLES and (running is None or running.screen_text)
            if screened and ctx.services.screener.screen(turn.text.strip()).urgency == "critical":
                interrupted = ctx.state.flow is not None
                answered = await self.on_crisis(ctx, await ctx.parse(ctx.text or turn.text))
                if answered or running is None or not running.steps[ctx.state.state or ""].account:
                    if interrupted:
                        await self.prompt(ctx)  # the words were about danger, not an answer: ask again
                    return
        command = turn.command
        if command is not None:
            name, argument = command
            handler = self.commands.get(name)
            if handler is None:
                ctx.say("command.unknown", command=name)
                return
            await handler(ctx, argument)
            return
        if turn.button is not None and turn.button.startswith(ACTION_PREFIX):
            name, _, argument = turn.button[len(ACTION_PREFIX) :].partition(":")
            action = self.actions.get(name)
            if action is None:
                ctx.say("button.expired")
                return
            await action(ctx, argument)
            return
        flow = self.flows.get(ctx.state.flow or "")
        if turn.button is not None and ctx.pressed is None and flow is not None and flow.later_questions:
            token, _, question = turn.button.partition("|")[0].partition(".")
            if token == ctx.state.token and flow.comes_after(question, ctx.state.state or ""):
                ctx.take_press_of(question)
        if turn.button is not None and ctx.pressed is None:
            if (
                ctx.state.flow is None
                and ctx.person.role not in WORKER_ROLES
                and await ctx.services.people.consent_cut_off(ctx.person.id)
            ):
                # The consent questions were cut off (their dialog state lost): say so, and ask the
                # questions again (each answer given so far is recorded already).
                ctx.say("flow.interrupted")
                await ctx.start("welcome")
                return
            ctx.say("button.expired")
            if ctx.state.flow is not None:
                await self.prompt(ctx)
            return
        if turn.kind is not None and turn.text is None and turn.phone is None and turn.latitude is None:
            ctx.say(
                f"unsupported.{turn.kind}"
                if ctx.services.catalog.has(f"unsupported.{turn.kind}")
                else "unsupported.other"
            )
            if ctx.state.flow is not None:
                await self.prompt(ctx)
            return
        if ctx.state.flow is not None:
            await self._continue(ctx)
            return
        if ctx.text is None and turn.phone is None and turn.latitude is None:
            ctx.say("input.empty")
            return
        if ctx.text is not None:
            await self.route_text(ctx, ctx.text)
        else:
            ctx.say("help.menu")

    async def _continue(self, ctx: Ctx) -> None:
        flow = self.flows[ctx.state.flow or ""]
        step = flow.steps.get(ctx.state.state or "")
        if step is None:
            self.clear(ctx.state)
            ctx.say("flow.lost")
            return
        running = ctx.state.token
        next_state = await step.handle(ctx)
        if ctx.state.token == running:  # not ended, nor replaced by another flow, inside the handler
            await self.go(ctx, next_state)

    async def go(self, ctx: Ctx, next_state: str | None) -> None:
        """Move the running flow to ``next_state`` and ask its question; None ends the flow."""
        if ctx.state.flow is None:
            return  # the handler ended the flow itself (or started none)
        if next_state is None:
            self.clear(ctx.state)
            return
        ctx.state.state = next_state
        await self.prompt(ctx)

    async def prompt(self, ctx: Ctx) -> None:
        flow = self.flows[ctx.state.flow or ""]
        await flow.steps[ctx.state.state or ""].prompt(ctx)

    async def start_flow(self, ctx: Ctx, name: str, data: dict[str, Any] | None = None) -> None:
        flow = self.flows[name]
        if ctx.person.role not in flow.roles:
            ctx.say("flow.not_for_you")
            return
        ctx.state.flow = name
        ctx.state.state = flow.start
        ctx.state.token = secrets.token_hex(3)
        ctx.state.data = dict(data or {})
        ctx._pressed = None
        first: str | None = flow.start
        running = ctx.state.token
        if flow.begin is not None:
            first = await flow.begin(ctx)
        if ctx.state.token == running:
            await self.go(ctx, first)

    @staticmethod
    def clear(state: DialogState) -> None:
        state.flow = None
        state.state = None
        state.data = {}
        state.token = ""

    async def _erased(self, key: str) -> bool:
        """Whether nobody is enrolled behind a channel key ("telegram:42") any more: every turn enrols
        its person first, so a conversation without one is of someone whose data was erased."""
        name, _, user = key.partition(":")
        try:
            channel = Channel(name)
        except ValueError:
            return False
        return await self.services.people.known(user, channel=channel) is None

    # --- abandoned dialogs ------------------------------------------------------------------------

    async def sweep_abandoned(self, outbound: Outbound) -> int:
        """Remind once whoever left a flow half-way; later, let the flow go. Returns how many were touched."""
        now = self.services.clock.now()
        touched = 0
        for key, _ in await self.store.stale(now - self.remind_after):
            async with self.locks.hold(key):
                current = await self.store.load(key)
                if not current.active or current.updated_at >= now - self.remind_after:
                    continue
                if await self._erased(key):  # left by a store that cannot forget: let it go, unsaid
                    self.clear(current)
                    current.language = None
                    await self.store.save(key, current)
                    continue
                language = current.language or self.default_language
                if current.updated_at < now - self.expire_after:
                    self.clear(current)
                    await outbound(key, [Reply("flow.expired")], language)
                elif not current.reminded:
                    current.reminded = True
                    await outbound(key, [Reply("flow.reminder")], language)
                else:
                    continue
                await self.store.save(key, current)
                touched += 1
        return touched
