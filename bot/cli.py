"""The ``needsbot`` command line: set-up, directory, invites, tickets, understanding and running.

Each command's module is imported only when that command runs: the database layer, the settings and
scikit-learn take seconds to import, and ``needsbot --help`` or ``needsbot policy ask`` need none of them.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

import click

# name → (module:attribute, one line of help shown before the module is loaded)
COMMANDS: dict[str, tuple[str, str]] = {
    "areas": ("bot.cli_setup:areas", "Areas: district → street or township → community."),
    "chat": ("bot.cli_chat:chat", "Talk to needsbot in the terminal, as a resident, worker…"),
    "db": ("bot.cli_setup:db", "Database schema."),
    "demo": ("bot.cli_setup:demo", "Demonstration data."),
    "health": ("bot.cli_setup:health", "Check the database is reachable and migrated, Redis answers."),
    "invite": ("bot.cli_setup:invite", "Enrolment invites for volunteers, workers, supervisors, admins."),
    "nlu": ("bot.cli_nlu:nlu", "Intent models: train, parse, evaluate."),
    "oncall": ("bot.cli_oncall:oncall", "The crisis on-call list: add, list, remove."),
    "orgs": ("bot.cli_setup:orgs", "Social work service agencies."),
    "people": ("bot.cli_casework:people", "Enrolled people."),
    "policy": ("bot.cli_policy:policy", "Assistance policy answers with citations."),
    "report": ("bot.cli_report:report", "The service's evaluation: indicators by period and area."),
    "run": ("bot.cli_setup:run", "Start needsbot: Telegram with TELEGRAM_BOT_TOKEN, else the console."),
    "scheduler": ("bot.cli_casework:scheduler", "Deadlines, reminders and follow-ups."),
    "tickets": ("bot.cli_casework:tickets", "Referral tickets."),
    "web": ("bot.cli_web:web", "The staff's web console: serve it, sign-in links, sessions."),
}


class LazyGroup(click.Group):
    """Loads a command's module on first use; turns configuration, input and database problems into
    one clear line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attribute = COMMANDS[name][0].split(":")
            self.add_command(getattr(import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        from bot.cli_support import fail
        from bot.settings import ConfigurationError
        from casework.domain import DomainError
        from dialogs.catalog import Catalog

        try:
            return super().invoke(ctx)
        except ConfigurationError as error:
            fail(f"configuration error: {error}", code=2)
        except DomainError as error:
            fail(Catalog.load().refusal(error, "en"))  # the command line speaks English


@click.group(cls=LazyGroup)
@click.version_option(package_name="needsbot")
def cli() -> None:
    """needsbot: finds the needs of people in social assistance and turns them into referral tickets."""


def main() -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "true")  # PTB 22: time periods as timedelta, as in PTB 23
    cli(prog_name="needsbot")


if __name__ == "__main__":
    main()
