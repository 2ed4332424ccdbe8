"""The capture form: who, what was said, and the reasons to follow up."""

from flask import has_request_context, request
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import Email, Optional, ValidationError

from webapp.badges import BadgeError, parse_payload
from webapp.capture.ingest import CaptureData, HookData
from webapp.config import MAX_FIELD, MAX_NOTE
from webapp.contacts.models import HOOK_TYPES, OWED_BY, RATINGS
from webapp.forms import PhoneNumber, clean, limit, options

MISSING_IDENTITY = "Add a name, an email, a phone or a link, so you can find this person again."


def normalize_url(value: str) -> str:
    """Return value as an http(s) link, adding https:// to a bare domain."""
    value = clean(value)
    if value and "://" not in value and not value.lower().startswith(("mailto:", "tel:")):
        value = "https://" + value
    return value


def has_photo() -> bool:
    """Tell whether the request carries a badge photo (kept on the capture for later)."""
    upload = request.files.get("photo") if has_request_context() else None
    return bool(upload and upload.filename)


class HttpLink:
    """Accept only http and https links (after normalize_url)."""

    def __call__(self, _form, field) -> None:
        value = normalize_url(field.data)
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValidationError("Only http and https links can be saved.")
        if value and "." not in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValidationError("That does not look like a web address.")


class CaptureFormBase(FlaskForm):
    """Fields of one capture; hook fields are added per hook type below."""

    name = StringField("Name", validators=[limit(MAX_FIELD, "Name")])
    org = StringField("Company", validators=[limit(MAX_FIELD, "Company")])
    title = StringField("Title", validators=[limit(MAX_FIELD, "Title")])
    email = EmailField(
        "Email", validators=[Optional(), Email("Enter a valid email."), limit(254, "Email")]
    )
    phone = StringField("Phone", validators=[PhoneNumber(), limit(60, "Phone")])
    url = StringField("Link", validators=[HttpLink(), limit(300, "Link")])
    note = TextAreaField("Note", validators=[limit(MAX_NOTE, "The note")])
    offer = TextAreaField("What I can offer them", validators=[limit(1000, "The offer")])
    ask = TextAreaField("What they can help with", validators=[limit(1000, "This field")])
    rating = RadioField(
        "Rating",
        choices=options([("", "None"), *RATINGS.items()]),
        default="",
        validate_choice=True,
    )
    raw = HiddenField()  # validate_raw gives the parser's reason (4 KB, control characters)

    def validate_raw(self, field) -> None:
        """Refuse scanned text the badge parser will not read, saying why."""
        if field.data:
            try:
                parse_payload(field.data)
            except BadgeError as error:
                raise ValidationError(str(error)) from error

    def hook_fields(self) -> list[tuple[str, BooleanField, StringField, RadioField]]:
        """Return (type, toggle, detail, owed_by) for each hook type, in display order."""
        return [
            (kind, self[f"hook_{kind}"], self[f"detail_{kind}"], self[f"owed_{kind}"])
            for kind in HOOK_TYPES
        ]

    def validate(self, extra_validators=None) -> bool:
        """Validate fields, then require something that identifies the person."""
        ok = super().validate(extra_validators)
        data = self.to_capture()
        if not data.identifies_someone() and not has_photo():
            self.name.errors = [*self.name.errors, MISSING_IDENTITY]
            ok = False
        for kind, toggle, detail, _owed in self.hook_fields():
            if kind == "custom" and toggle.data and not clean(detail.data):
                detail.errors = [*detail.errors, "Say what the custom promise is."]
                ok = False
        return ok

    def to_capture(self) -> CaptureData:
        """Return the form's content as capture data."""
        hooks = [
            HookData(type=kind, detail=clean(detail.data), owed_by=owed.data or "me")
            for kind, toggle, detail, owed in self.hook_fields()
            if toggle.data
        ]
        return CaptureData(
            name=clean(self.name.data),
            org=clean(self.org.data),
            title=clean(self.title.data),
            email=clean(self.email.data).lower(),
            phone=clean(self.phone.data),
            url=normalize_url(self.url.data),
            note=clean(self.note.data),
            offer=clean(self.offer.data),
            ask=clean(self.ask.data),
            rating=self.rating.data or None,
            raw=self.raw.data or None,
            hooks=hooks,
        )

    def fill_from(self, encounter) -> None:
        """Load an existing encounter into the form for editing."""
        for name in ("name", "org", "title", "email", "phone", "url", "note", "offer", "ask"):
            self[name].data = getattr(encounter, name)
        self.rating.data = encounter.rating or ""
        self.raw.data = encounter.raw or ""
        for hook in encounter.hooks:
            self[f"hook_{hook.type}"].data = True
            self[f"detail_{hook.type}"].data = hook.detail
            self[f"owed_{hook.type}"].data = hook.owed_by


_DETAIL_HINTS = {
    "send_resource": "Which resource? e.g. the article on pricing",
    "meet": "When? e.g. next week",
    "introduce": "To whom? e.g. Maria Keller",
    "share_lead": "Which lead?",
    "ask_advice": "About what?",
    "stay_in_touch": "Anything to remember?",
    "custom": "What was promised?",
}


def _with_hook_fields(base: type[FlaskForm]) -> type[FlaskForm]:
    """Add a toggle, a detail and an owed-by field per hook type to base."""
    attrs = {}
    for kind, label in HOOK_TYPES.items():
        attrs[f"hook_{kind}"] = BooleanField(label)
        attrs[f"detail_{kind}"] = StringField(
            f"{label}: detail",
            validators=[limit(500, "The detail")],
            render_kw={"placeholder": _DETAIL_HINTS[kind]},
        )
        attrs[f"owed_{kind}"] = RadioField(
            f"{label}: who owes it",
            choices=options(OWED_BY.items()),
            default="me",
            validators=[Optional()],
        )
    return type("CaptureForm", (base,), attrs)


CaptureForm = _with_hook_fields(CaptureFormBase)


class EditCaptureForm(CaptureForm):
    """The capture form for editing, with the capture as the page showed it (base: JSON of
    sync.history.snapshot), so a save changes only the fields the person changed."""

    base = HiddenField()
