"""The profile form."""

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TextAreaField, URLField
from wtforms.validators import URL, DataRequired, Email, Optional, ValidationError

from webapp.forms import PhoneNumber, limit, options
from webapp.profile.service import check_timezone, timezone_names

HOURS = options((h, f"{h:02d}:00") for h in range(24))


class ProfileForm(FlaskForm):
    """Everything the user's card and drafts say about them."""

    name = StringField("Name", validators=[DataRequired(), limit(200, "Name")])
    headline = StringField("Headline", validators=[limit(200, "Headline")])
    company = StringField("Company", validators=[limit(200, "Company")])
    email = EmailField(
        "Email", validators=[DataRequired(), Email("Enter a valid email."), limit(254, "Email")]
    )
    phone = StringField("Phone", validators=[PhoneNumber(), limit(60, "Phone")])
    linkedin = URLField(
        "LinkedIn",
        validators=[Optional(), URL(message="Enter the full link, https://…"), limit(300, "Link")],
    )
    website = URLField(
        "Website",
        validators=[Optional(), URL(message="Enter the full link, https://…"), limit(300, "Link")],
    )
    pitch = TextAreaField("Two-minute pitch", validators=[limit(2000, "The pitch")])
    timezone = SelectField("Time zone", choices=[])
    morning_hour = SelectField("Morning hour for follow-ups", coerce=int, choices=HOURS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = options((name, name) for name in timezone_names())

    def validate_timezone(self, field) -> None:
        """Accept only IANA names."""
        try:
            check_timezone(field.data)
        except ValueError as error:
            raise ValidationError(str(error)) from error
