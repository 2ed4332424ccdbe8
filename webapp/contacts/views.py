"""Contacts: the list, a page per person, editing who they are."""

from flask import Blueprint, flash, request, url_for
from flask_login import current_user, login_required

from webapp.contacts.forms import ContactForm, lines
from webapp.contacts.matching import claim_handles, handles_for
from webapp.contacts.models import Contact
from webapp.contacts.queries import search_contacts
from webapp.extensions import db
from webapp.web import owned_or_404, redirect_after_save, render

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.get("")
@login_required
def index():
    """List contacts, filtered by the search box."""
    query = request.args.get("q", "")[:100]
    contacts = search_contacts(current_user.id, query)
    return render("contacts/index.html", "contacts/_list.html", contacts=contacts, query=query)


@bp.get("/<int:contact_id>")
@login_required
def show(contact_id: int):
    """Show a person with every encounter and hook."""
    contact = owned_or_404(Contact, contact_id)
    return render("contacts/show.html", "contacts/_card.html", contact=contact)


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@login_required
def edit(contact_id: int):
    """Change who a contact is."""
    contact = owned_or_404(Contact, contact_id)
    form = ContactForm()
    if not form.is_submitted():
        form.name.data, form.org.data, form.title.data = contact.name, contact.org, contact.title
        form.emails.data = "\n".join(contact.emails or [])
        form.phones.data = "\n".join(contact.phones or [])
        form.urls.data = "\n".join(contact.urls or [])
        form.rating.data = contact.rating or ""
    elif form.validate():
        contact.name = form.name.data.strip()
        contact.org = form.org.data.strip()
        contact.title = form.title.data.strip()
        contact.emails = lines(form.emails.data.lower())
        contact.phones = lines(form.phones.data)
        contact.urls = lines(form.urls.data)
        contact.rating = form.rating.data or None
        claim_handles(contact, handles_for(contact.emails, contact.phones, contact.urls))
        db.session.commit()
        flash("Contact saved.", "success")
        return redirect_after_save(url_for(".show", contact_id=contact.id))
    status = 422 if form.errors else 200
    return render(
        "contacts/edit.html", "contacts/_form.html", status=status, form=form, contact=contact
    )
