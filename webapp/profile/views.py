"""Edit the profile."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user, login_required

from webapp.auth.service import find_user, normalize_email
from webapp.extensions import db
from webapp.profile.forms import ProfileForm
from webapp.web import render

bp = Blueprint("profile", __name__, url_prefix="/profile")


@bp.route("", methods=["GET", "POST"])
@login_required
def edit():
    """Show and save the profile."""
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        other = find_user(form.email.data)
        if other is not None and other.id != current_user.id:
            form.email.errors.append("Another account uses this email.")
        else:
            form.populate_obj(current_user)
            current_user.email = normalize_email(form.email.data)
            db.session.commit()
            flash("Profile saved.", "success")
            return redirect(url_for("profile.edit"))
    status = 422 if form.errors else 200
    return render("profile/edit.html", "profile/_form.html", status=status, form=form)
