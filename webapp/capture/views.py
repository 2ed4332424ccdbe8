"""Capture a person at the event, see today's list, edit a capture."""

import json

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from webapp.capture.forms import CaptureForm, EditCaptureForm
from webapp.capture.ingest import TEXT_FIELDS, update_capture
from webapp.capture.photo_views import photo_for_capture
from webapp.capture.photos import PhotoError, keep_photo
from webapp.capture.store import record_capture
from webapp.contacts.models import Encounter
from webapp.contacts.queries import encounters_at
from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.sync.history import FIELDS, HOOK_FIELDS, snapshot
from webapp.sync.service import merge_values
from webapp.sync.validate import values_of
from webapp.web import owned_or_404, redirect_after_save, render, retry_on_csrf

bp = Blueprint("capture", __name__)

STALE_FORM = "Your session had expired, so nothing was saved yet. Tap Save contact again."
CAPTURE_GONE = "This capture is not here any more: it was deleted, on this device or another."
CAPTURE_GONE_SAVING = (
    "This capture was deleted, on this device or another, so nothing was saved. "
    "Copy what you typed if you still need it."
)
EDITABLE_FIELDS = ("name", "org", "title", "email", "phone", "url", "note", "offer", "ask")


def _capture_page(form, status: int = 200, saved: Encounter | None = None, notice: str = ""):
    """Render the capture screen (or just its form for htmx)."""
    event = current_user.current_event
    return render(
        "capture/new.html",
        "capture/_form.html",
        status=status,
        form=form,
        event=event,
        saved=saved,
        notice=notice,
    )


@bp.get("/")
def home():
    """Send people to the capture screen, or to log in first."""
    if current_user.is_authenticated:
        return redirect(url_for("capture.new"))
    return redirect(url_for("auth.login"))


@bp.route("/capture", methods=["GET", "POST"])
@login_required
def new():
    """Show the capture form, and save a capture into the current event."""
    form = CaptureForm()
    if form.validate_on_submit():
        data = form.to_capture()
        data.event_id = current_user.current_event_id
        try:
            photo = photo_for_capture(data)
        except PhotoError as error:
            return _capture_page(form, status=422, notice=str(error))
        encounter = record_capture(current_user.id, data)
        if photo is not None:
            keep_photo(current_user.id, encounter.id, photo)
        db.session.commit()
        if request.headers.get("HX-Request"):
            return _capture_page(CaptureForm(formdata=None), saved=encounter)
        flash(f"Saved {encounter.contact.label}. Ready for the next person.", "success")
        return redirect(url_for("capture.new"))
    if form.raw.errors:
        form.raw.data = ""  # a refused scan is dropped, so saving again keeps the rest
    return _capture_page(form, status=422 if form.errors else 200)


def _stale_capture():
    """Re-show the capture form with what was typed, and a fresh token."""
    form = CaptureForm(meta={"csrf": False})
    form.validate()
    return _capture_page(form, status=400, notice=STALE_FORM)


retry_on_csrf("capture.new", _stale_capture)


def phone_capture(encounter: Encounter) -> dict:
    """Return what the phone's editor needs of a capture, in the sync contract's shape."""
    return {
        "capture_id": encounter.uuid,
        "event_id": encounter.event.uuid if encounter.event else None,
        "raw": encounter.raw,
        **{name: getattr(encounter, name) for name in EDITABLE_FIELDS},
        "rating": encounter.rating,
        "hooks": [
            {"type": h.type, "detail": h.detail, "owed_by": h.owed_by} for h in encounter.hooks
        ],
    }


bp.add_app_template_filter(phone_capture)


@bp.get("/today")
@login_required
def today():
    """List the people captured at the current event, newest first, editable offline."""
    event = current_user.current_event
    encounters = encounters_at(current_user.id, event.id if event else None)
    # Each row carries its capture as JSON, so the page the service worker caches is enough
    # to edit an uploaded capture with no network (static/js/today-offline.js).
    return render(
        "capture/today.html",
        "capture/_list.html",
        event=event,
        encounters=encounters,
        offline_edit=True,
        edit_form=CaptureForm(formdata=None, meta={"csrf": False}),
    )


@bp.route("/captures/<int:encounter_id>/edit", methods=["GET", "POST"])
@login_required
def edit(encounter_id: int):
    """Edit one capture: who, note, hooks, rating."""
    saving = request.method == "POST"
    encounter = owned_or_404(
        Encounter,
        encounter_id,
        for_update=saving,
        gone=CAPTURE_GONE_SAVING if saving else CAPTURE_GONE,
    )
    form = EditCaptureForm()
    if not form.is_submitted():
        form.fill_from(encounter)
        form.base.data = json.dumps(snapshot(encounter), ensure_ascii=False)
    elif form.validate():
        _save_edit(encounter, form)
        db.session.commit()
        flash("Capture saved.", "success")
        return redirect_after_save(url_for("contacts.show", contact_id=encounter.contact_id))
    status = 422 if form.errors else 200
    return render(
        "capture/edit.html",
        "capture/_edit_form.html",
        status=status,
        form=form,
        encounter=encounter,
    )


def _save_edit(encounter: Encounter, form: EditCaptureForm) -> None:
    """Apply the form to the capture: only the fields changed since the page was loaded.

    A field left as the page showed it keeps the capture's value, even if a phone's sync
    changed it meanwhile; a changed field wins (it is the newest edit), and a note changed
    on both sides keeps both texts: the rule of the sync's merge (docs/sync.md). Without
    the page's base (a page from before it was added) every field is applied, as before.
    """
    data = form.to_capture()
    base = _base_of(form.base.data)
    if base is None:
        update_capture(encounter, data)
        return
    texts = {name: getattr(data, name) for name in TEXT_FIELDS}
    merge_values(encounter, values_of(texts, data.rating, data.hooks), utcnow(), base, "web")


def _base_of(text: str | None) -> dict[str, str | None] | None:
    """Return the form's base if it is what the edit page wrote, else None."""
    try:
        base = json.loads(text or "")
    except ValueError:
        return None
    names = {*FIELDS, *HOOK_FIELDS}
    if not isinstance(base, dict) or set(base) != names:
        return None
    if not all(value is None or isinstance(value, str) for value in base.values()):
        return None
    return base
