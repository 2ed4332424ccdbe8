"""What drafts are made from: resources, target companies, templates; and introductions."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.contacts.models import Contact
from webapp.extensions import db
from webapp.forms import clean
from webapp.outreach import planner
from webapp.outreach.compose import DEFAULT_TEMPLATES, PLACEHOLDERS, validate_template
from webapp.outreach.forms import ResourceForm, TargetForm
from webapp.outreach.models import Introduction, Resource, Target, UserTemplate
from webapp.web import owned_or_404, render, wants_fragment

bp = Blueprint("library", __name__, url_prefix="/followups")

TEMPLATE_MAX = 4000


def _done(endpoint: str, message: str, fragment_view):
    """Commit, then answer htmx with the fresh fragment, or redirect a plain form post."""
    db.session.commit()
    if wants_fragment():
        return fragment_view()
    flash(message, "success")
    return redirect(url_for(endpoint), code=303)


def _resources_page(form: ResourceForm | None = None, status: int = 200):
    rows = db.session.scalars(
        select(Resource).where(Resource.user_id == current_user.id).order_by(Resource.title)
    ).all()
    return render(
        "outreach/resources.html",
        "outreach/_resources.html",
        status=status,
        form=form or ResourceForm(formdata=None),
        resources=rows,
    )


@bp.route("/resources", methods=["GET", "POST"])
@login_required
def resources():
    """List the resources library and add to it."""
    form = ResourceForm()
    if request.method == "GET":
        return _resources_page()
    if not form.validate():
        return _resources_page(form, 422)
    db.session.add(
        Resource(
            user_id=current_user.id,
            title=clean(form.title.data),
            url=clean(form.url.data),
            why=clean(form.why.data),
        )
    )
    db.session.flush()
    planner.replan_open(current_user.id)
    return _done(".resources", "Resource added.", _resources_page)


@bp.post("/resources/<int:resource_id>/delete")
@login_required
def delete_resource(resource_id: int):
    """Remove a resource from the library (drafts already written keep their link)."""
    db.session.delete(owned_or_404(Resource, resource_id))
    return _done(".resources", "Resource removed.", _resources_page)


def _targets_page(form: TargetForm | None = None, status: int = 200):
    rows = db.session.scalars(
        select(Target).where(Target.user_id == current_user.id).order_by(Target.name)
    ).all()
    return render(
        "outreach/targets.html",
        "outreach/_targets.html",
        status=status,
        form=form or TargetForm(formdata=None),
        targets=rows,
    )


@bp.route("/targets", methods=["GET", "POST"])
@login_required
def targets():
    """List and add the target companies whose people come first in the queue."""
    form = TargetForm()
    if request.method == "GET":
        return _targets_page()
    if not form.validate():
        return _targets_page(form, 422)
    try:
        with db.session.begin_nested():
            db.session.add(Target(user_id=current_user.id, name=clean(form.name.data)))
    except IntegrityError:
        form.name.errors = ["That target is already on the list."]
        return _targets_page(form, 422)
    return _done(".targets", "Target added.", _targets_page)


@bp.post("/targets/<int:target_id>/delete")
@login_required
def delete_target(target_id: int):
    """Take a company off the targets list."""
    db.session.delete(owned_or_404(Target, target_id))
    return _done(".targets", "Target removed.", _targets_page)


def _templates_page(texts: dict[str, str], errors: dict[str, list[str]], status: int = 200):
    return render(
        "outreach/templates.html",
        "outreach/_templates.html",
        status=status,
        texts=texts,
        errors=errors,
        defaults=DEFAULT_TEMPLATES,
        placeholders=sorted(PLACEHOLDERS),
    )


@bp.route("/templates", methods=["GET", "POST"])
@login_required
def templates():
    """Edit the texts drafts are written from; unknown or fancy placeholders are refused."""
    saved = planner.user_templates(current_user.id)
    if request.method == "GET":
        return _templates_page(
            {key: saved.get(key, text) for key, text in DEFAULT_TEMPLATES.items()}, {}
        )
    texts = {
        key: request.form.get(key, text).replace("\r\n", "\n")
        for key, text in DEFAULT_TEMPLATES.items()
    }
    errors: dict[str, list[str]] = {}
    for key, text in texts.items():
        problems = validate_template(text)
        if len(text) > TEMPLATE_MAX:
            problems.append(f"Keep it under {TEMPLATE_MAX:,} characters.")
        if problems:
            errors[key] = problems
    if errors:
        return _templates_page(texts, errors, 422)
    rows = {
        row.key: row
        for row in db.session.scalars(
            select(UserTemplate).where(UserTemplate.user_id == current_user.id)
        )
    }
    for key, text in texts.items():
        row = rows.get(key)
        if not text.strip() or text == DEFAULT_TEMPLATES[key]:
            if row is not None:
                db.session.delete(row)  # empty or default: follow the default from now on
        elif row is None:
            db.session.add(UserTemplate(user_id=current_user.id, key=key, text=text))
        else:
            row.text = text
    db.session.flush()
    planner.replan_open(current_user.id)
    shown = {key: text if text.strip() else DEFAULT_TEMPLATES[key] for key, text in texts.items()}
    message = "Templates saved; waiting drafts you have not edited were rewritten."
    return _done(".templates", message, lambda: _templates_page(shown, {}))


def _intros_page(status: int = 200, error: str = ""):
    intros = db.session.scalars(
        select(Introduction)
        .where(Introduction.user_id == current_user.id)
        .options(selectinload(Introduction.a), selectinload(Introduction.b))
        .order_by(Introduction.created_at.desc(), Introduction.id.desc())
    ).all()
    people = []
    if any(intro.b_id is None and intro.state == "asked" for intro in intros):
        people = db.session.execute(
            select(Contact.id, Contact.name)
            .where(Contact.user_id == current_user.id, Contact.name != "")
            .order_by(Contact.name)
            .limit(1000)
        ).all()
    return render(
        "outreach/introductions.html",
        "outreach/_introductions.html",
        status=status,
        intros=intros,
        people=people,
        error=error,
    )


@bp.get("/introductions")
@login_required
def introductions():
    """List introductions and where each one stands."""
    return _intros_page()


def _step(intro_id: int, action) -> object:
    intro = owned_or_404(Introduction, intro_id)
    try:
        message = action(intro)
    except planner.IntroError as error:
        db.session.rollback()
        return _intros_page(409, str(error))
    return _done(".introductions", message, _intros_page)


@bp.post("/introductions/<int:intro_id>/pick")
@login_required
def pick(intro_id: int):
    """Name the other person of an introduction whose hook did not match a contact."""

    def action(intro: Introduction) -> str:
        other = owned_or_404(Contact, request.form.get("contact_id"))
        planner.pick_other(intro, other)
        return f"Asking {other.label} first; the note is in today's follow-ups."

    return _step(intro_id, action)


@bp.post("/introductions/<int:intro_id>/agree")
@login_required
def agree(intro_id: int):
    """Record that the other person said yes and queue the introduction email."""

    def action(intro: Introduction) -> str:
        planner.agree(intro)
        return "Introduction email queued in today's follow-ups."

    return _step(intro_id, action)


@bp.post("/introductions/<int:intro_id>/decline")
@login_required
def decline(intro_id: int):
    """Record that the other person declined; the introduction ends there."""

    def action(intro: Introduction) -> str:
        planner.decline(intro)
        return "Introduction declined; nothing more will be sent."

    return _step(intro_id, action)
