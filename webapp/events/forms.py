"""The event form."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional, ValidationError

from webapp.forms import limit


class EventForm(FlaskForm):
    """Name, dates, place and goal of an event."""

    name = StringField("Event name", validators=[DataRequired(), limit(200, "The name")])
    starts_on = DateField("First day", validators=[Optional()])
    ends_on = DateField("Last day", validators=[Optional()])
    place = StringField("Place", validators=[limit(200, "The place")])
    goal = TextAreaField("Goal (optional)", validators=[limit(1000, "The goal")])
    make_current = BooleanField("Make this my current event", default=True)

    def validate_ends_on(self, field) -> None:
        """Refuse an event that ends before it starts."""
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("The last day is before the first day.")
