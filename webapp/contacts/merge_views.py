"""Merge two contacts by hand: pick the other person, confirm, keep one with everything."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from webapp.contacts.merge import MergeError, merge_contacts
from webapp.contacts.models import Contact
from webapp.contacts.queries import search_contacts
from webapp.extensions import db
from webapp.web import owned_or_404, render

bp = Blueprint("merge", __name__, url_prefix="/contacts")


@bp.get("/<int:contact_id>/merge")
@login_required
def choose(contact_id: int):
    """List the user's other contacts to merge into this one, filtered by the search box."""
    contact = owned_or_404(Contact, contact_id)
    query = request.args.get("q", "")[:100]
    candidates = [c for c in search_contacts(current_user.id, query) if c.id != contact.id]
    return render(
        "contacts/merge.html",
        "contacts/_merge_choices.html",
        contact=contact,
        candidates=candidates,
        query=query,
    )


@bp.route("/<int:contact_id>/merge/<int:other_id>", methods=["GET", "POST"])
@login_required
def confirm(contact_id: int, other_id: int):
    """Show both people side by side, and merge other_id into contact_id once confirmed."""
    contact = owned_or_404(Contact, contact_id)
    other = owned_or_404(Contact, other_id)
    if contact.id == other.id:
        abort(404)
    if request.method == "POST":
        label = other.label
        try:
            merge_contacts(current_user.id, contact.id, other.id)
        except (LookupError, MergeError):
            abort(404)
        db.session.commit()
        flash(f"Merged {label} into this contact. Nothing was lost.", "success")
        return redirect(url_for("contacts.show", contact_id=contact_id))
    return render(
        "contacts/merge_confirm.html",
        "contacts/_merge_confirm.html",
        contact=contact,
        other=other,
    )
