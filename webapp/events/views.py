"""Create events, pick the current one, see who was met there."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.contacts.queries import encounters_at
from webapp.events.forms import EventForm
from webapp.events.models import Event
from webapp.extensions import db
from webapp.web import owned_or_404, render

bp = Blueprint("events", __name__, url_prefix="/events")


def _event_for(event_id: int) -> Event:
    return owned_or_404(Event, event_id)


def _events() -> list[Event]:
    """Return the user's events, newest first."""
    return list(
        db.session.scalars(
            select(Event)
            .where(Event.user_id == current_user.id)
            .order_by(Event.starts_on.desc().nulls_last(), Event.id.desc())
        )
    )


@bp.get("")
@login_required
def index():
    """List the user's events, newest first."""
    events = _events()
    return render("events/index.html", "events/_list.html", events=events)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """Create an event (current by default)."""
    form = EventForm()
    if form.validate_on_submit():
        event = Event(user_id=current_user.id)
        form.populate_obj(event)
        db.session.add(event)
        db.session.flush()
        if form.make_current.data:
            current_user.current_event_id = event.id
        db.session.commit()
        flash(f"{event.name} created.", "success")
        return redirect(url_for("capture.new") if form.make_current.data else url_for(".index"))
    status = 422 if form.errors else 200
    return render("events/new.html", "events/_form.html", status=status, form=form, event=None)


@bp.route("/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_id: int):
    """Change an event's details."""
    event = _event_for(event_id)
    form = EventForm(obj=event)
    if form.validate_on_submit():
        form.populate_obj(event)
        if form.make_current.data:
            current_user.current_event_id = event.id
        db.session.commit()
        flash("Event saved.", "success")
        return redirect(url_for(".show", event_id=event.id))
    if not form.is_submitted():
        form.make_current.data = current_user.current_event_id == event.id
    status = 422 if form.errors else 200
    return render("events/new.html", "events/_form.html", status=status, form=form, event=event)


@bp.post("/<int:event_id>/current")
@login_required
def make_current(event_id: int):
    """Make this event the one new captures land in."""
    event = _event_for(event_id)
    current_user.current_event_id = event.id
    db.session.commit()
    events = _events()
    flash(f"Captures now land in {event.name}.", "success")
    return render("events/index.html", "events/_list.html", events=events)


@bp.get("/<int:event_id>")
@login_required
def show(event_id: int):
    """Show everyone captured at this event, newest first."""
    event = _event_for(event_id)
    encounters = encounters_at(current_user.id, event.id)
    return render("events/show.html", "capture/_list.html", event=event, encounters=encounters)
