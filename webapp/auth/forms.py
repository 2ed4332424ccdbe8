"""Sign-up and log-in forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from webapp.forms import limit


class LoginForm(FlaskForm):
    """Log in with email and password."""

    email = EmailField("Email", validators=[DataRequired(), limit(254, "Email")])
    password = PasswordField("Password", validators=[DataRequired(), limit(200, "Password")])


class SignupForm(FlaskForm):
    """Create an account."""

    name = StringField("Your name", validators=[DataRequired(), limit(200, "Name")])
    email = EmailField(
        "Email", validators=[DataRequired(), Email("Enter a valid email."), limit(254, "Email")]
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(min=10, message="Use at least 10 characters."),
            limit(200, "Password"),
        ],
    )
    confirm = PasswordField(
        "Repeat password", validators=[EqualTo("password", message="The passwords differ.")]
    )
