"""How an alert reads: the outbox payload turned into a message and its buttons, for any channel."""

from __future__ import annotations

from typing import Any

from casework.disclosure import Relation
from casework.domain import AlertKind, OutboxAlert
from casework.indicators import Report
from casework.notify import Undelivered
from dialogs import report
from dialogs.catalog import TicketSummary, Words
from dialogs.engine import action_button
from dialogs.flows.supervision import scores_words
from dialogs.flows.survey import star_buttons
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
        "summary": TicketSummary(ticket["summary"]) if ticket.get("summary") else "-",
    }


# What a volunteer hears of a household they flagged: its stage, in words of its own (not "your case").
VOLUNTEER_EVENTS = frozenset(
    {
        AlertKind.CASE_CLAIMED,
        AlertKind.CASE_ACKNOWLEDGED,
        AlertKind.CASE_VISITED,
        AlertKind.CASE_RESOLVED,
        AlertKind.CASE_CLOSED,
    }
)
# Alerts that tell staff of a ticket's state and why, and offer to view it.
STATE_EVENTS = frozenset(
    {
        AlertKind.TICKET_ESCALATED,
        AlertKind.TICKET_ASSIGNED,
        AlertKind.REFERRAL_DECLINED,
        AlertKind.REFERRAL_UNATTENDED,
    }
)


# Alerts that are a service-evaluation report of an area (``FollowUpWork.send_reports``).
REPORT_EVENTS = frozenset({AlertKind.WEEKLY_DIGEST, AlertKind.MONTHLY_REPORT})


def _report_reply(event: AlertKind, stored: dict[str, Any], language: str) -> Reply:
    """A scheduled report: its key figures in words, then its charts and workbook."""
    found = Report.from_plain(stored["figures"])
    area = stored.get("area", "")
    if language == "en":
        area = stored.get("area_en") or area
    figures = {**report.summary(found), "area": area, "period": found.scope.label}
    return Reply(
        f"alert.{event.value}",
        {"summary": Words("report.summary", {"figures": Words("report.figures", figures)})},
        files=report.files(found),
    )


def alert_reply(alert: OutboxAlert, language: str) -> Reply:
    payload = alert.payload
    event = alert.event
    if event in REPORT_EVENTS and "report" in payload:
        return _report_reply(event, payload["report"], language)
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
        linked = "\n🔗 " + " ".join(payload["linked"])
        summary = args["summary"]
        args["summary"] = (
            TicketSummary(summary.stored, linked) if isinstance(summary, TicketSummary) else summary + linked
        )
    key = f"alert.{event.value}"
    if event is AlertKind.TICKET_OPENED:
        buttons = [
            *on_it,
            action_button("alert.button.claim", "claim", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
            action_button("alert.button.refer", "refer", ticket_id),
            action_button("alert.button.close", "close", ticket_id),
        ]
    elif event is AlertKind.TICKET_TAKEN:
        args["holder"] = payload.get("holder", "")
    elif event in STATE_EVENTS:
        args["reason"] = f"escalation.{payload.get('reason', 'unclaimed')}"
        args["level"] = payload.get("level", 1)
        buttons = [*on_it, action_button("alert.button.view", "view", ticket_id)]
    elif event is AlertKind.CRISIS_ALERT:
        args["why"] = "crisis.why.unanswered" if payload.get("step") else "crisis.why.unstaffed"
        buttons = [
            *on_it,
            action_button("alert.button.claim", "claim", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
        ]
    elif event is AlertKind.CRISIS_ACKNOWLEDGED:
        args["by"] = payload.get("by", "")
        buttons = [action_button("alert.button.view", "view", ticket_id)]
    elif event is AlertKind.REFERRAL_REQUESTED:
        referral = payload.get("referral") or {}
        args.update({"from": referral.get("from", ""), "reason": referral.get("reason") or "-"})
        buttons = [
            action_button("alert.button.accept", "accept_referral", referral.get("id", 0)),
            action_button("alert.button.decline", "decline_referral", referral.get("id", 0)),
        ]
    elif event is AlertKind.REFERRAL_COMPLETED:
        args["outcome"] = payload.get("outcome", "")
        # The agency's words are staff's: whoever referred the case words what the person hears.
        buttons = [
            action_button("worker.button.tell_person", "message", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
        ]
    elif event is AlertKind.CASE_RESOLVED and payload.get("words"):
        key = "alert.case_resolved_with_words"
        args["words"] = payload["words"]
    elif event is AlertKind.HOME_VISIT_DUE:
        buttons = [
            action_button("alert.button.visited", "visited", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
        ]
    elif event is AlertKind.CASE_MESSAGE:
        args["words"] = payload.get("words", "")
        sender = payload.get("sender") or ""
        args["sender"] = sender
        key = "alert.case_message" if sender else "alert.case_message_unsigned"
    elif event is AlertKind.CASE_REPLY:
        args["words"] = payload.get("words", "")
        buttons = [
            action_button("alert.button.reply", "message", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
        ]
    elif event in (AlertKind.CASE_REFERRED, AlertKind.CASE_REFERRAL_ANSWERED):
        args["agency"] = payload.get("agency", "")
        if event is AlertKind.CASE_REFERRAL_ANSWERED:
            key = (
                "alert.case_referral_accepted" if payload.get("accepted") else "alert.case_referral_declined"
            )
    elif event is AlertKind.VISIT_PROPOSED:
        args.update({"when": payload.get("when", ""), "sender": payload.get("sender") or ""})
        buttons = [
            action_button("alert.button.visit_ok", "visit_ok", ticket_id),
            action_button("alert.button.visit_no", "visit_no", ticket_id),
        ]
    elif event is AlertKind.VISIT_ANSWERED:
        key = "alert.visit_suits" if payload.get("suits") else "alert.visit_does_not_suit"
        args["when"] = payload.get("when", "")
        buttons = [
            action_button("worker.button.message", "message", ticket_id),
            action_button("alert.button.view", "view", ticket_id),
        ]
    elif event is AlertKind.REASSESSMENT_DUE:
        key = "alert.reassessment_due_crisis" if payload.get("crisis") else "alert.reassessment_due"
        args["version"] = payload.get("version", "")
        buttons = [
            action_button("casefile.button.assess", "assess", ticket_id),
            action_button("casefile.button.file", "file", ticket_id),
        ]
    elif event is AlertKind.REVIEW_DUE:
        args["due"] = payload.get("due", "")
        buttons = [
            action_button("casefile.button.review", "review", ticket_id),
            action_button("casefile.button.file", "file", ticket_id),
        ]
    elif event in (AlertKind.TASK_GIVEN, AlertKind.TASK_DONE):
        task = payload.get("task") or {}
        args.update(
            {
                "number": task.get("number", ""),
                "title": task.get("title", ""),
                "due": task.get("due_on") or "-",
                "address": task.get("address") or "-",
                "by": payload.get("by", ""),
            }
        )
        if event is AlertKind.TASK_GIVEN:
            buttons = [
                action_button("casefile.button.task_done", "task_done", task.get("id", 0), n=args["number"])
            ]
        else:
            buttons = [action_button("casefile.button.file", "file", ticket_id)]
    elif event is AlertKind.IMPROVEMENT_RAISED:
        improvement = payload.get("improvement") or {}
        args.update(
            {
                "by": improvement.get("by", ""),
                "agency": improvement.get("agency", ""),
                "what": improvement.get("what", ""),
                "due": improvement.get("due_on", ""),
            }
        )
        buttons = [
            action_button(
                "agency.improvement.button_done",
                "improvement_done",
                improvement.get("id", 0),
                id=improvement.get("id", 0),
            )
        ]
    elif event is AlertKind.CASE_SUPERVISED:
        supervision = payload.get("supervision") or {}
        args.update(
            {
                "by": payload.get("by", ""),
                "score": supervision.get("score", ""),
                "scores": scores_words(supervision.get("scores") or {}),
                "comment": supervision.get("comment") or "-",
            }
        )
        buttons = [action_button("alert.button.view", "view", ticket_id)]
    elif event is AlertKind.REPORTER_ERASED:
        key = "alert.reporter_erased_kept" if payload.get("kept") else "alert.reporter_erased"
        buttons = [action_button("alert.button.view", "view", ticket_id)]
    elif event is AlertKind.SATISFACTION_SURVEY:
        buttons = star_buttons(ticket_id)
    elif event is AlertKind.WEEKLY_DIGEST:  # six figures, as a week's digest was queued before reports
        key = "alert.weekly_figures"
        args.update(
            {key: "-" if value is None else value for key, value in (payload.get("digest") or {}).items()}
        )
    elif event is AlertKind.ALERT_UNDELIVERABLE:
        failed = payload.get("failed") or {}
        kind = failed.get("event", "")
        args.update(
            {
                "failed_event": f"alert.kind.{kind}" if kind in set(AlertKind) else kind,
                # Notices queued before reasons were codes carry the channel's own words.
                "reason": f"alert.undelivered.{why}"
                if (why := failed.get("reason", "")) in set(Undelivered)
                else why,
            }
        )
        args["reference"] = (payload.get("ticket") or {}).get("reference", "-")
    if event is AlertKind.CASE_CLAIMED and payload.get("contact") is False:
        key = "alert.case_claimed_no_contact"  # they did not agree to be contacted: no promise of it
    if event is AlertKind.DIALOG_MESSAGE:
        return Reply(key=str(payload.get("message_key", "flow.reminder")))
    if "referral" in payload and event in (AlertKind.REFERRAL_ACCEPTED, AlertKind.REFERRAL_DECLINED):
        args["by"] = payload["referral"].get("by", "")
        args["decline_reason"] = payload["referral"].get("reason") or "-"
    per_row = 5 if event is AlertKind.SATISFACTION_SURVEY else 2
    return Reply(key=key, args=args, buttons=rows(buttons, per_row))
