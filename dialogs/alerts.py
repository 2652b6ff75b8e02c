"""How an alert reads: the outbox payload turned into a message and its buttons, for any channel."""

from __future__ import annotations

from typing import Any

from casework.disclosure import Relation
from casework.domain import OutboxAlert
from dialogs.engine import action_button
from dialogs.messages import Button, Reply, rows


def _ticket_args(payload: dict[str, Any], language: str) -> dict[str, Any]:
    ticket = payload.get("ticket") or {}
    return {
        "reference": ticket.get("reference", ""),
        "service": f"service.{ticket['service_type']}" if ticket.get("service_type") else "",
        "urgency": f"urgency.{ticket['urgency']}" if ticket.get("urgency") else "",
        "area": (ticket.get("area_en") or ticket.get("area", ""))
        if language == "en"
        else ticket.get("area", ""),
        "summary": ticket.get("summary") or "-",
    }


# What a volunteer hears of a household they flagged: its stage, in words of its own (not "your case").
VOLUNTEER_EVENTS = frozenset(
    {"case_claimed", "case_acknowledged", "case_visited", "case_resolved", "case_closed"}
)


def alert_reply(alert: OutboxAlert, language: str) -> Reply:
    payload = alert.payload
    event = alert.event or str(payload.get("event", ""))
    if payload.get("audience") == Relation.VOLUNTEER and event in VOLUNTEER_EVENTS:
        return Reply(
            key=f"alert.volunteer.{event}", args={"reference": _ticket_args(payload, language)["reference"]}
        )
    args = _ticket_args(payload, language)
    ticket_id: int = int((payload.get("ticket") or {}).get("id") or alert.ticket_id or 0)
    buttons: list[Button] = []
    # A crisis's alerts carry "I'm on it", which stops its climb up the area tree.
    on_it = (
        [action_button("alert.button.on_it", "on_it", ticket_id)]
        if payload.get("reason") == "critical"
        else []
    )
    if payload.get("linked"):
        args["summary"] += "\n🔗 " + " ".join(payload["linked"])
    if event == "ticket_opened":
        buttons = [
            *on_it,
            action_button("alert.button.claim", "claim", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
            action_button("alert.button.refer", "refer", ticket_id),
            action_button("alert.button.close", "close", ticket_id),
        ]
    elif event == "ticket_taken":
        args["holder"] = payload.get("holder", "")
    elif event in ("ticket_escalated", "ticket_assigned", "referral_declined", "referral_unattended"):
        args["reason"] = f"escalation.{payload.get('reason', 'unclaimed')}"
        args["level"] = payload.get("level", 1)
        buttons = [*on_it, action_button("alert.button.view", "view", ticket_id)]
    elif event == "crisis_alert":
        args["why"] = "crisis.why.unanswered" if payload.get("step") else "crisis.why.unstaffed"
        buttons = [
            *on_it,
            action_button("alert.button.claim", "claim", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
        ]
    elif event == "crisis_acknowledged":
        args["by"] = payload.get("by", "")
        buttons = [action_button("alert.button.view", "view", ticket_id)]
    elif event == "referral_requested":
        referral = payload.get("referral") or {}
        args.update({"from": referral.get("from", ""), "reason": referral.get("reason") or "-"})
        buttons = [
            action_button("alert.button.accept", "accept_referral", referral.get("id", 0)),
            action_button("alert.button.decline", "decline_referral", referral.get("id", 0)),
        ]
    elif event == "referral_completed":
        args["outcome"] = payload.get("outcome", "")
    elif event == "home_visit_due":
        buttons = [
            action_button("alert.button.visited", "visited", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
        ]
    elif event == "satisfaction_survey":
        buttons = [action_button("alert.button.rate", "rate", f"{ticket_id}:{n}", n=n) for n in range(1, 6)]
    elif event == "weekly_digest":
        args.update(
            {key: "-" if value is None else value for key, value in (payload.get("digest") or {}).items()}
        )
    elif event == "alert_undeliverable":
        failed = payload.get("failed") or {}
        args.update({"failed_event": failed.get("event", ""), "reason": failed.get("reason", "")})
        args["reference"] = (payload.get("ticket") or {}).get("reference", "-")
    if event == "case_claimed" and payload.get("contact") is False:
        event = "case_claimed_no_contact"  # they did not agree to be contacted: no promise of it
    if event == "dialog_message":
        return Reply(key=str(payload.get("message_key", "flow.reminder")))
    if "referral" in payload and event in ("referral_accepted", "referral_declined"):
        args["by"] = payload["referral"].get("by", "")
        args["decline_reason"] = payload["referral"].get("reason") or "-"
    return Reply(
        key=f"alert.{event}", args=args, buttons=rows(buttons, 5 if event == "satisfaction_survey" else 2)
    )
