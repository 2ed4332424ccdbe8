"""Validators and field helpers shared by the feature forms."""

from collections.abc import Iterable

from wtforms import SelectChoice
from wtforms.validators import Length, ValidationError


def options(pairs: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """Return (value, label) pairs as the choices WTForms expects."""
    return [SelectChoice(value, label) for value, label in pairs]


def limit(max_length: int, label: str) -> Length:
    """Refuse over-long input with a message instead of truncating it."""
    return Length(
        max=max_length,
        message=f"{label} is too long: keep it under {max_length:,} characters.",
    )


def clean(value: str | None) -> str:
    """Strip surrounding white space, treating None as empty."""
    return (value or "").strip()


class PhoneNumber:
    """Accept digits, spaces and the punctuation people write phone numbers with."""

    allowed = set("0123456789+()-./ ")

    def __call__(self, _form, field) -> None:
        value = clean(field.data)
        if value and (set(value) - self.allowed or sum(c.isdigit() for c in value) < 3):
            raise ValidationError("That does not look like a phone number.")
