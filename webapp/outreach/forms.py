"""Forms of the review screen, the resources library, targets and templates."""

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Optional, ValidationError

from webapp.forms import clean, limit
from webapp.mail import MailError, check_address


class DraftForm(FlaskForm):
    """Who a draft goes to and what it says."""

    to_name = StringField("To (name)", validators=[limit(200, "The name")])
    to_email = StringField("To (email)", validators=[limit(254, "The address")])
    subject = StringField(
        "Subject", validators=[DataRequired("Write a subject."), limit(300, "The subject")]
    )
    body = TextAreaField(
        "Message", validators=[DataRequired("Write a message."), limit(20000, "The message")]
    )

    def validate_to_email(self, field) -> None:
        """Refuse an address mail could not be sent to; empty is allowed until sending."""
        value = clean(field.data)
        if value:
            try:
                check_address(value, "The address")
            except MailError as error:
                raise ValidationError(str(error)) from error


class SnoozeDateForm(FlaskForm):
    """The date a snoozed draft comes back."""

    date = DateField("Snooze until", validators=[DataRequired("Pick a date.")])


class ResourceForm(FlaskForm):
    """A thing the user often shares."""

    title = StringField("Title", validators=[DataRequired("Give it a title."), limit(200, "Title")])
    url = URLField("Link", validators=[Optional(), limit(500, "The link")])
    why = StringField("Why it helps (one line)", validators=[limit(300, "The why")])

    def validate_url(self, field) -> None:
        """Allow only http and https links."""
        value = clean(field.data)
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValidationError("Only http and https links can be saved.")


class TargetForm(FlaskForm):
    """A company (or role) whose people should come first."""

    name = StringField(
        "Company or role", validators=[DataRequired("Name a company."), limit(200, "The name")]
    )
