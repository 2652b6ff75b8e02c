"""The dialog engine assembled from every flow, command and alert action."""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType

from dialogs import router
from dialogs.engine import Action, Command, DialogEngine, Flow, Services
from dialogs.flows import (
    agency,
    assessment,
    crisis,
    erase,
    evaluation,
    feedback,
    flag,
    need,
    plan,
    policy,
    supervision,
    survey,
    welcome,
    worker,
)
from dialogs.state import DialogStore, PersonLocks

# Each flow module exports FLOW; it may also export COMMANDS and ACTIONS of its own.
FLOW_MODULES: tuple[ModuleType, ...] = (
    welcome,
    need,
    erase,
    worker,
    assessment,
    plan,
    evaluation,
    supervision,
    agency,
    flag,
    policy,
    feedback,
    survey,
    crisis,
)


def build_engine(
    services: Services,
    store: DialogStore,
    locks: PersonLocks,
    *,
    default_language: str = "zh",
    remind_after: timedelta = timedelta(minutes=30),
    expire_after: timedelta = timedelta(hours=2),
) -> DialogEngine:
    flows: dict[str, Flow] = {}
    commands: dict[str, Command] = dict(router.COMMANDS)
    actions: dict[str, Action] = dict(router.ACTIONS)
    for module in FLOW_MODULES:
        flow: Flow = module.FLOW
        flows[flow.name] = flow
        commands.update(getattr(module, "COMMANDS", {}))
        actions.update(getattr(module, "ACTIONS", {}))
    return DialogEngine(
        services,
        store,
        locks,
        flows=flows,
        commands=commands,
        actions=actions,
        route_text=router.route_text,
        on_crisis=router.on_crisis,
        default_language=default_language,
        remind_after=remind_after,
        expire_after=expire_after,
    )
