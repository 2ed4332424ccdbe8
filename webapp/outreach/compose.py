"""Compose follow-up drafts from hooks and user-editable templates, as inert plain text.

Templates use ``{placeholder}`` fields and ``{{``/``}}`` for literal braces, and nothing else:
no attribute access, indexing, conversions or format specs, so a template can never run code
or allocate without bound. Values are inserted literally and never parsed again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from webapp.outreach.schedule import format_slot

HOOK_TYPES = (
    *("send_resource", "meet", "introduce", "share_lead"),
    *("ask_advice", "stay_in_touch", "custom"),
)
OWED_BY = ("me", "them")

#: The placeholders a user may put in a template; docs/outreach.md explains each one.
PLACEHOLDERS = frozenset(
    {
        *("first_name", "name", "event", "note", "detail", "offer", "slots"),
        *("my_name", "my_headline", "my_company"),
        *("resource_title", "resource_url", "resource_why"),
    }
)

#: Default templates: a subject and a body fragment per hook type, plus the frame around them.
DEFAULT_TEMPLATES: dict[str, str] = {
    "default.subject": "Great to meet you at {event}",
    "greeting": "Hi {first_name},",
    "opening": "It was good to meet you at {event}.",
    "opening_with_note": "It was good to meet you at {event} and to talk about {note}.",
    "send_resource.subject": "{resource_title}, as promised",
    "send_resource.body": "As promised, here is {resource_title}:\n{resource_url}\n{resource_why}",
    "meet.subject": "A chat after {event}?",
    "meet.body": "You suggested we talk again {detail}. Would one of these times work for you?\n"
    "{slots}\nIf none of them suit, just tell me what does.",
    "introduce.subject": "The introduction I promised",
    "introduce.body": "I haven't forgotten the introduction to {detail}. I'll check they are "
    "happy to connect, then put you two in touch.",
    "share_lead.subject": "A lead for you, from {event}",
    "share_lead.body": "Here is the lead I promised: {detail}",
    "ask_advice.subject": "Could I ask your advice?",
    "ask_advice.body": "You kindly offered to share your advice on {detail}. Would you have "
    "20 minutes for a short call in the next couple of weeks?",
    "stay_in_touch.subject": "Great to meet you at {event}",
    "stay_in_touch.body": "I'd like to stay in touch, and I'll keep an eye out for anything "
    "useful to you.",
    "custom.subject": "Following up from {event}",
    "custom.body": "As promised: {detail}",
    "offer": "And if it is ever useful, I'm happy to help with {offer}.",
    "signoff": "Best wishes,\n{my_name}",
}

#: Fixed, not editable: the promise made to people about their data must not be edited away.
PRIVACY_LINE = (
    "I keep your details from {event} in Hookline, my contacts app; "
    "reply 'forget me' and I'll delete them."
)

#: What to insert for an empty detail; "[add ...]" markers are also listed in DraftText.missing.
_DETAIL_FALLBACK = {
    "send_resource": "the resource I mentioned",
    "meet": "soon",
    "introduce": "the person I mentioned",
    "share_lead": "[add the lead]",
    "ask_advice": "your field",
    "stay_in_touch": "",
    "custom": "[add what you promised]",
}
ADD_LINK = "[add the link]"
ADD_TIMES = "- [add two or three times that suit you]"
SUBJECT_MAX = 200

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{[^{}]*\}|[{}]")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]+")


@dataclass(frozen=True)
class Person:
    """Someone met at an event."""

    name: str
    email: str = ""

    @property
    def first_name(self) -> str:
        """Return the first word of the name, which is what an informal greeting uses."""
        words = one_line(self.name).split()
        return words[0] if words else "there"


@dataclass(frozen=True)
class Me:
    """The user who signs the drafts."""

    name: str
    email: str = ""
    headline: str = ""
    company: str = ""


@dataclass(frozen=True)
class HookIn:
    """A reason to follow up; ref is the caller's id for matching a resource."""

    type: str
    detail: str = ""
    owed_by: str = "me"
    ref: str = ""

    def __post_init__(self) -> None:
        """Reject hook types and owers outside the fixed vocabulary."""
        if self.type not in HOOK_TYPES:
            choices = ", ".join(HOOK_TYPES)
            raise ValueError(f"Unknown hook type {self.type!r}; use one of {choices}.")
        if self.owed_by not in OWED_BY:
            raise ValueError(f"owed_by must be 'me' or 'them', got {self.owed_by!r}.")


@dataclass(frozen=True)
class Resource:
    """A thing promised to someone: a title, a link and why it helps them."""

    title: str
    url: str = ""
    why: str = ""


@dataclass(frozen=True)
class DraftText:
    """A composed email; missing lists what the user must fill in before sending."""

    subject: str
    body: str
    missing: tuple[str, ...] = field(default=())


def one_line(value: str) -> str:
    """Fold line breaks and control characters to single spaces, for names and subjects."""
    if value.isprintable():  # no control character at all: the common case, without a regex
        return value.strip()
    return _CONTROL.sub(" ", value).strip()


def multi_line(value: str) -> str:
    """Normalise line endings to \\n and drop other control characters, for notes."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_BUT_NEWLINE.sub(" ", value).strip()


#: A value ending so already takes the full stop a template puts right after it.
_ENDS_SENTENCE = (".", "!", "?", "\u2026")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Fill {name} fields from values literally; leave anything else exactly as written.

    One exception: when a value ends its own sentence ("wants the write-up.", "how?"), the
    single full stop the template writes right after it is dropped, so a note typed with
    its full stop does not read "write-up.." in the draft. An ellipsis in the template stays.
    """
    # Values are inserted verbatim and never scanned again.
    out: list[str] = []
    ended = False
    for text, name in _pieces(template):
        if name is not None and name in values:
            value = str(values[name])
            out.append(value)
            ended = value.endswith(_ENDS_SENTENCE)
            continue
        if ended and text.startswith(".") and not text.startswith(".."):
            text = text[1:]
        out.append(text)
        ended = False
    return "".join(out)


@lru_cache(maxsize=1024)
def _pieces(template: str) -> tuple[tuple[str, str | None], ...]:
    """Split a template into its text and {name} fields, once per distinct template.

    Each piece is (text, name): name is None for plain text (with {{ and }} already turned
    into braces). Unknown names and anything fancier ({a.b}, {a:>9}, stray braces) keep
    their text, so the user sees the mistake in the draft; validate_template names it.
    """
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for match in _TOKEN.finditer(template):
        if match.start() > position:
            pieces.append((template[position : match.start()], None))
        text = match.group(0)
        if text in ("{{", "}}"):
            pieces.append((text[0], None))
        else:
            pieces.append((text, match.group(1)))
        position = match.end()
    if position < len(template):
        pieces.append((template[position:], None))
    return tuple(pieces)


def validate_template(template: str, allowed: frozenset[str] = PLACEHOLDERS) -> list[str]:
    """Return the problems in a user template, one readable sentence each; empty if fine."""
    problems: list[str] = []
    for match in _TOKEN.finditer(template):
        text = match.group(0)
        if text in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is not None:
            if name not in allowed:
                problems.append(f"Unknown placeholder {text}.")
        elif text == "{":
            problems.append(
                f"Unmatched '{{' at position {match.start()}; write '{{{{' for a literal brace."
            )
        elif text == "}":
            problems.append(
                f"Unmatched '}}' at position {match.start()}; write '}}}}' for a literal brace."
            )
        else:
            shown = text if len(text) <= 40 else text[:37] + "...}"
            problems.append(f"Placeholder {shown} must be a plain name like {{first_name}}.")
    return problems


def _base_values(person: Person, me: Me, event_name: str, note: str, offer: str) -> dict[str, str]:
    """Return the placeholder values shared by every fragment of one draft."""
    return {
        "first_name": person.first_name,
        "name": one_line(person.name),
        "event": one_line(event_name) or "the event",
        "note": multi_line(note),
        "detail": "",
        "my_name": one_line(me.name),
        "my_headline": one_line(me.headline),
        "my_company": one_line(me.company),
        "offer": multi_line(offer),
        "resource_title": "",
        "resource_url": "",
        "resource_why": "",
        "slots": "",
    }


def _hook_values(
    hook: HookIn,
    base: Mapping[str, str],
    resources: Mapping[str, Resource],
    slots: Sequence[datetime],
    tz: str,
    missing: list[str],
) -> dict[str, str]:
    """Return the values for one hook's fragment, noting anything the user still has to add."""
    values = dict(base)
    detail = multi_line(hook.detail)
    values["detail"] = detail or _DETAIL_FALLBACK[hook.type]
    if not detail and values["detail"].startswith("[add"):
        missing.append(values["detail"].strip("[]").capitalize() + ".")
    if hook.type == "send_resource":
        resource = resources.get(hook.ref) if hook.ref else None
        values["resource_title"] = one_line(resource.title) if resource else ""
        values["resource_title"] = values["resource_title"] or one_line(detail) or values["detail"]
        values["resource_url"] = one_line(resource.url) if resource else ""
        values["resource_why"] = multi_line(resource.why) if resource else ""
        if not values["resource_url"]:
            values["resource_url"] = ADD_LINK
            missing.append(f"Add the link for {values['resource_title']}.")
    if hook.type == "meet":
        if slots:
            values["slots"] = "\n".join(f"- {format_slot(slot, tz)}" for slot in slots)
        else:
            values["slots"] = ADD_TIMES
            missing.append("Add two or three times for the chat.")
    return values


def _template(templates: Mapping[str, str] | None, key: str) -> str:
    """Return the user's template for key, or the default when they have not set one."""
    if templates and templates.get(key):
        return templates[key]
    return DEFAULT_TEMPLATES[key]


def _tidy(text: str) -> str:
    """Strip trailing spaces and collapse the blank lines left by empty optional values."""
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _subject(text: str) -> str:
    """Return a subject that is one line and of sane length, whatever the template said."""
    text = one_line(text)
    # Fallback titles ("the resource I mentioned") start lower-case; a subject should not.
    text = text[:1].upper() + text[1:]
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1].rstrip() + "\u2026"


def _signature(me: Me, templates: Mapping[str, str] | None, values: Mapping[str, str]) -> str:
    """Return the sign-off followed by the user's headline and company, when they have one."""
    extra = ", ".join(part for part in (one_line(me.headline), one_line(me.company)) if part)
    signoff = render_template(_template(templates, "signoff"), values)
    return f"{signoff}\n{extra}" if extra else signoff


def compose_draft(
    person: Person,
    me: Me,
    event_name: str,
    note: str,
    offer: str,
    hooks: Sequence[HookIn],
    resources: Mapping[str, Resource] | None = None,
    templates: Mapping[str, str] | None = None,
    first_message: bool = False,
    *,
    slots: Sequence[datetime] = (),
    tz: str = "UTC",
) -> DraftText:
    """Write one email to person that delivers every hook I owe them.

    resources maps HookIn.ref to the Resource for a send_resource hook; slots are the chat
    times offered for a meet hook (see schedule.propose_slots), shown in the zone tz.
    Hooks owed by "them" are left out: they become nudges (compose_nudge).
    """
    mine = [hook for hook in hooks if hook.owed_by == "me"]
    base = _base_values(person, me, event_name, note, offer)
    missing: list[str] = []
    fragments: list[str] = []
    subject_template = _template(templates, "default.subject")
    subject_values: Mapping[str, str] = base
    for index, hook in enumerate(mine):
        values = _hook_values(hook, base, resources or {}, slots, tz, missing)
        fragments.append(render_template(_template(templates, f"{hook.type}.body"), values))
        if index == 0:
            subject_template = _template(templates, f"{hook.type}.subject")
            subject_values = values

    opening_key = "opening_with_note" if base["note"] else "opening"
    parts = [
        render_template(_template(templates, "greeting"), base),
        render_template(_template(templates, opening_key), base),
        *fragments,
    ]
    if base["offer"]:
        parts.append(render_template(_template(templates, "offer"), base))
    parts.append(_signature(me, templates, base))
    if first_message:
        parts.append(render_template(PRIVACY_LINE, base))
    body = "\n\n".join(_tidy(part) for part in parts if part.strip())
    return DraftText(
        subject=_subject(render_template(subject_template, subject_values)),
        body=body,
        missing=tuple(missing),
    )


#: What the other person promised, phrased to follow "<Name> promised ".
_PROMISED = {
    "send_resource": "to send you {detail}",
    "meet": "to set up a chat {detail}",
    "introduce": "to introduce you to {detail}",
    "share_lead": "to share a lead: {detail}",
    "ask_advice": "to get in touch to ask your advice on {detail}",
    "stay_in_touch": "to stay in touch",
    "custom": "{detail}",
}
_PROMISED_FALLBACK = {
    "send_resource": "what they mentioned",
    "meet": "soon",
    "introduce": "someone they mentioned",
    "share_lead": "something they mentioned",
    "ask_advice": "something",
    "stay_in_touch": "",
    "custom": "to follow up",
}


def compose_nudge(person: Person, hook: HookIn, event_name: str) -> DraftText:
    """Write the user's own reminder about something the other person promised, with a nudge."""
    values = _base_values(person, Me(name=""), event_name, "", "")
    detail = multi_line(hook.detail)
    values["detail"] = detail or _PROMISED_FALLBACK[hook.type]
    values["promised"] = _tidy(render_template(_PROMISED[hook.type], values))
    values["topic"] = detail or "what we talked about"
    template = (
        "{name} promised {promised} when you met at {event}. It has been a few days; "
        "send a friendly nudge?\n\n"
        "A nudge you could send:\n\n"
        "Hi {first_name},\n\n"
        "Great to meet you at {event}. Just a friendly nudge about {topic}; no rush at all."
    )
    return DraftText(
        subject=_subject(render_template("Nudge {first_name}? ({event})", values)),
        body=render_template(template, values),
    )


def compose_intro_ask(me: Me, asked: Person, other: Person, why: str) -> DraftText:
    """Write the double opt-in question: would asked welcome an introduction to other?"""
    values = {
        "first_name": asked.first_name,
        "other_name": one_line(other.name),
        "why": multi_line(why),
        "my_name": one_line(me.name),
    }
    template = (
        "Hi {first_name},\n\n"
        "I'd like to introduce you to {other_name}.\n\n{why}\n\n"
        "Would an introduction be welcome? If so, just reply and I'll put you in touch. "
        "If not, no problem at all; I won't share your details.\n\n"
        "Best wishes,\n{my_name}"
    )
    return DraftText(
        subject=_subject(render_template("Introduction to {other_name}?", values)),
        body=_tidy(render_template(template, values)),
    )


def compose_introduction(me: Me, a: Person, b: Person, why_a: str, why_b: str) -> DraftText:
    """Write the introduction to both; why_a tells a why to meet b, why_b tells b about a."""
    values = {
        "a_first": a.first_name,
        "b_first": b.first_name,
        "a_name": one_line(a.name),
        "b_name": one_line(b.name),
        "why_a": multi_line(why_a),
        "why_b": multi_line(why_b),
        "my_name": one_line(me.name),
    }
    template = (
        "Hi {a_first} and {b_first},\n\n"
        "As promised, an introduction; you both said you'd welcome it.\n\n"
        "{a_first}, meet {b_name}. {why_a}\n\n"
        "{b_first}, meet {a_name}. {why_b}\n\n"
        "I'll leave it to you two from here.\n\n"
        "Best wishes,\n{my_name}"
    )
    return DraftText(
        subject=_subject(render_template("Introduction: {a_name} and {b_name}", values)),
        body=_tidy(render_template(template, values)),
    )
