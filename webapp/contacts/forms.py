"""The contact form."""

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import ValidationError

from webapp.config import MAX_FIELD
from webapp.contacts.models import RATINGS
from webapp.forms import limit, options


class ContactForm(FlaskForm):
    """Who a contact is; identifiers one per line."""

    name = StringField("Name", validators=[limit(MAX_FIELD, "Name")])
    org = StringField("Company", validators=[limit(MAX_FIELD, "Company")])
    title = StringField("Title", validators=[limit(MAX_FIELD, "Title")])
    emails = TextAreaField("Emails (one per line)", validators=[limit(2000, "Emails")])
    phones = TextAreaField("Phones (one per line)", validators=[limit(1000, "Phones")])
    urls = TextAreaField("Links (one per line)", validators=[limit(3000, "Links")])
    rating = RadioField("Rating", choices=options([("", "None"), *RATINGS.items()]), default="")

    def validate_emails(self, field) -> None:
        """Refuse anything that is not an email address."""
        for line in lines(field.data):
            try:
                validate_email(line, check_deliverability=False)
            except EmailNotValidError as error:
                raise ValidationError(f"{line[:60]}: {error}") from error

    def validate_urls(self, field) -> None:
        """Allow only http and https links."""
        for line in lines(field.data):
            if not line.lower().startswith(("http://", "https://")):
                raise ValidationError(f"Only http and https links can be saved: {line[:60]}")


def lines(text: str | None) -> list[str]:
    """Return the non-empty stripped lines of text, without repeats."""
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))
