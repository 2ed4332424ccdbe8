"""Today's follow-ups: review, edit and send drafts; resources, targets, templates, intros."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.contacts.models import Contact
from webapp.extensions import db
from webapp.mail import MailError, eml_bytes, mailto_link
from webapp.outreach import export as _export  # noqa: F401  (registers the export section)
from webapp.outreach import planner, queue, runner
from webapp.outreach.forms import DraftForm, SnoozeDateForm
from webapp.outreach.models import (
    OPEN_STATUSES,
    Draft,
    Interaction,
)
from webapp.web import owned_or_404, render, wants_fragment

bp = Blueprint("outreach", __name__, url_prefix="/followups")


@bp.app_template_global()
def mailto_for(draft: Draft) -> str:
    """Return the draft's mailto: link, or '' while its address is missing or invalid."""
    try:
        return mailto_link(draft.to_email, draft.subject, draft.body, draft.cc_email or None)
    except MailError:
        return ""


@bp.app_template_global()
def linkedin_of(contact: Contact) -> str:
    """Return the contact's LinkedIn profile link, when one was captured."""
    return next((u for u in contact.urls or [] if "linkedin.com/" in u.lower()), "")


@bp.app_template_global()
def followups_of(contact: Contact) -> dict:
    """Return a contact's drafts and logged touches, for the contact page."""
    drafts = db.session.scalars(
        select(Draft)
        .where(Draft.user_id == contact.user_id, Draft.contact_id == contact.id)
        .order_by(Draft.due_at.desc(), Draft.id.desc())
    ).all()
    touches = db.session.scalars(
        select(Interaction)
        .where(Interaction.user_id == contact.user_id, Interaction.contact_id == contact.id)
        .order_by(Interaction.happened_at.desc(), Interaction.id.desc())
        .limit(20)
    ).all()
    return {"drafts": drafts, "interactions": touches}


def _screen(template: str = "outreach/review.html", fragment: str = "outreach/_queue.html"):
    """Render the review screen (or its queue for htmx) for the current user."""
    moment = planner.now()
    settings, mail_error = runner.mail_status()
    upcoming = template == "outreach/upcoming.html"
    groups = (queue.upcoming_groups if upcoming else queue.due_groups)(current_user.id, moment)
    return render(
        template,
        fragment,
        groups=groups,
        mail_on=settings is not None,
        mail_error=mail_error,
        counts=queue.counts(current_user.id, current_user.timezone, moment),
        stuck=queue.stuck_drafts(current_user.id),
        upcoming=upcoming,
        # An empty queue says what is coming (the evening after an event, say).
        later=None if upcoming or groups else queue.later(current_user.id, moment),
    )


@bp.get("")
@login_required
def review():
    """Show today's due drafts, hottest first, grouped by event."""
    return _screen()


@bp.get("/upcoming")
@login_required
def upcoming():
    """Show drafts that are not due yet, and the scheduled ones."""
    return _screen("outreach/upcoming.html", "outreach/_queue.html")


def _row(draft: Draft, status: int = 200, **extra):
    """Answer with the draft's row (htmx) or go back to the review screen."""
    if not wants_fragment():
        return redirect(url_for(".review"), code=303)
    settings, mail_error = runner.mail_status()
    item = queue.Item(draft)
    queue._attach_encounters(current_user.id, [item])
    return render(
        "outreach/review.html",
        "outreach/_draft.html",
        status=status,
        item=item,
        mail_on=settings is not None,
        mail_error=mail_error,
        **extra,
    )


def _gone(draft: Draft, message: str):
    """Answer that the draft left the queue: an empty row plus fresh counts (out of band)."""
    db.session.commit()
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for(".review"), code=303)
    counts = queue.counts(current_user.id, current_user.timezone, planner.now())
    return render("outreach/review.html", "outreach/_gone.html", counts=counts, message=message)


def _open(draft_id: int) -> Draft:
    """Return the current user's draft if it still waits for them, else 404 / 409."""
    draft = owned_or_404(Draft, draft_id)
    if draft.status not in OPEN_STATUSES:
        abort(409, "This draft was already handled.")
    return draft


@bp.route("/<int:draft_id>/edit", methods=["GET", "POST"])
@login_required
def edit(draft_id: int):
    """Edit a draft's recipient, subject and message inline."""
    draft = _open(draft_id)
    form = DraftForm(obj=draft) if request.method == "GET" else DraftForm()
    if request.method == "POST" and form.validate():
        changed = (form.subject.data, form.body.data) != (draft.subject, draft.body)
        form.populate_obj(draft)
        draft.to_email = draft.to_email.strip()
        # Once the user has touched the text, later hooks are noted beside it, not merged in.
        draft.edited = draft.edited or changed
        db.session.commit()
        return _row(draft, saved="Saved.")
    status = 422 if form.errors else 200
    return render(
        "outreach/edit.html", "outreach/_edit.html", status=status, form=form, draft=draft
    )


@bp.get("/<int:draft_id>")
@login_required
def show(draft_id: int):
    """Show one draft's row (cancelling an edit lands here)."""
    draft = owned_or_404(Draft, draft_id)
    if not wants_fragment():
        return redirect(url_for(".review"))
    return _row(draft)


@bp.post("/<int:draft_id>/send")
@login_required
def send(draft_id: int):
    """Send the draft through SMTP and take it off the queue."""
    draft = _open(draft_id)
    settings, mail_error = runner.mail_status()
    if settings is None:
        return _row(draft, 422, error=mail_error or "Mail is not set up; use Mark as sent.")
    try:
        runner.send_draft(draft, settings, ("queued", "snoozed", "scheduled"))
    except runner.NotClaimed:
        abort(409, "This draft is already being sent.")
    except MailError as error:
        return _row(db.session.get(Draft, draft_id), 422, error=str(error))
    return _gone(draft, f"Sent to {draft.to_name or draft.to_email}.")


@bp.post("/<int:draft_id>/mark-sent")
@login_required
def mark_sent(draft_id: int):
    """Record that the user sent this draft some other way."""
    draft = owned_or_404(Draft, draft_id)
    try:
        runner.mark_sent(draft)
    except runner.NotClaimed:
        abort(409, "This draft was already handled.")
    return _gone(draft, f"Marked as sent to {draft.to_name or draft.contact.label}.")


@bp.post("/<int:draft_id>/snooze")
@login_required
def snooze(draft_id: int):
    """Hide the draft until tomorrow, next week or a picked date."""
    draft = _open(draft_id)
    choice = request.form.get("choice", "")
    day: date | None = None
    if choice == "date":
        form = SnoozeDateForm()
        if not form.validate():
            return _row(draft, 422, error=" ".join(form.date.errors) or "Pick a date.")
        day = form.date.data
    try:
        runner.snooze(draft, choice, current_user, day)
    except ValueError as error:
        return _row(draft, 422, error=str(error))
    when = draft.due_at
    return _gone(draft, f"Snoozed until {when.astimezone(_zone()).strftime('%a %-d %b')}.")


def _zone():
    from webapp.outreach.schedule import zone

    return zone(current_user.timezone)


@bp.post("/<int:draft_id>/skip")
@login_required
def skip(draft_id: int):
    """Drop the draft from the queue, with an optional reason."""
    draft = _open(draft_id)
    runner.skip(draft, request.form.get("reason", ""))
    return _gone(draft, f"Skipped {draft.to_name or draft.contact.label}.")


@bp.post("/<int:draft_id>/schedule")
@login_required
def schedule_send(draft_id: int):
    """Let the runner send this draft by itself at its due time (or take that back)."""
    draft = _open(draft_id)
    if request.form.get("action") == "unschedule":
        draft.status = "queued"
        db.session.commit()
        return _row(draft, saved="Will not be sent automatically.")
    if runner.mail_status()[0] is None:
        return _row(draft, 422, error="Mail is not set up, so nothing can be sent automatically.")
    draft.status = "scheduled"
    return _gone(draft, f"Scheduled: sends by itself at {_when(draft)}.")


def _when(draft: Draft) -> str:
    moment = max(draft.due_at, planner.now())
    return moment.astimezone(_zone()).strftime("%a %-d %b, %H:%M")


@bp.post("/<int:draft_id>/invite")
@login_required
def invite(draft_id: int):
    """Attach (or detach) the calendar invitation for the proposed chat time."""
    draft = _open(draft_id)
    if draft.slot_at is None:
        return _row(draft, 422, error="This draft proposes no chat time to invite to.")
    draft.attach_invite = request.form.get("attach_invite") == "on"
    db.session.commit()
    return _row(draft)


@bp.get("/<int:draft_id>/mailto")
@login_required
def mailto(draft_id: int):
    """Open the draft in the user's mail app: redirect to its RFC 6068 mailto: link.

    A redirect rather than the link itself keeps the review page small: an encoded body is
    about three times the size of the draft, for each of hundreds of drafts.
    """
    draft = owned_or_404(Draft, draft_id)
    link = mailto_for(draft)
    if not link:
        abort(422, "This draft has no valid address yet: edit it to add one.")
    return redirect(link, code=303)


@bp.get("/<int:draft_id>.eml")
@login_required
def eml(draft_id: int):
    """Download the draft as an .eml file that opens as an unsent email."""
    draft = owned_or_404(Draft, draft_id)
    settings, _ = runner.mail_status()
    try:
        message = runner.build(draft, current_user, settings)
    except MailError as error:
        return _row(draft, 422, error=str(error)) if wants_fragment() else abort(422, str(error))
    response = Response(eml_bytes(message), mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="draft-{draft.id}.eml"'
    return response


@bp.post("/<int:draft_id>/resolve")
@login_required
def resolve(draft_id: int):
    """Settle a draft stuck in 'sending': it did go out, or it goes back to the queue."""
    draft = owned_or_404(Draft, draft_id)
    if draft.status != "sending":
        abort(409, "This draft is not stuck.")
    if request.form.get("outcome") == "sent":
        runner.record_sent(draft, "smtp")
        return _gone(draft, "Recorded as sent.")
    draft.status, draft.claimed_by = "queued", None
    draft.send_error = "Sending was interrupted; check your sent mail before sending again."
    db.session.commit()
    return _row(draft)
