"""Drafts from hooks and templates: content, nudges, introductions and hostile input."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.outreach.compose import (
    ADD_LINK,
    DEFAULT_TEMPLATES,
    PLACEHOLDERS,
    SUBJECT_MAX,
    DraftText,
    HookIn,
    Me,
    Person,
    Resource,
    compose_draft,
    compose_intro_ask,
    compose_introduction,
    compose_nudge,
    render_template,
    validate_template,
)
from webapp.outreach.schedule import propose_slots

MARIA = Person("Maria García", "maria@example.org")
ANN = Me("Ann Lee", "ann@example.com", headline="Founder", company="Hookline")
ARTICLE = Resource("Pricing for dev tools", "https://example.com/pricing", "It has the numbers.")
SLOTS = propose_slots(datetime(2026, 4, 15, 7, 0, tzinfo=UTC), "Europe/Berlin")

HOSTILE = [
    "{",
    "}",
    "{__class__}",
    "{name.__class__.__init__.__globals__}",
    "{name[0]}",
    "{name!r}",
    "{name:>99999999}",
    "{0}",
    "{{first_name}}",
    "line\r\nBcc: evil@example.com",
    "<script>alert(1)</script>",
    "x" * 20_000,
]


def draft(**overrides) -> DraftText:
    """Compose Ann's draft to Maria with sensible defaults, overridden per test."""
    args = {
        "person": MARIA,
        "me": ANN,
        "event_name": "PyCon DE",
        "note": "pricing for developer tools",
        "offer": "intros to seed investors",
        "hooks": [HookIn("send_resource", "the pricing article", ref="7")],
        "resources": {"7": ARTICLE},
        "templates": None,
        "first_message": False,
    }
    args.update(overrides)
    return compose_draft(**args)


def test_it_writes_a_draft_that_delivers_the_promised_resource() -> None:
    result = draft()
    assert result.subject == "Pricing for dev tools, as promised"
    assert result.body.startswith("Hi Maria,\n\n")
    assert "meet you at PyCon DE and to talk about pricing for developer tools." in result.body
    assert "Pricing for dev tools:\nhttps://example.com/pricing\nIt has the numbers." in result.body
    assert "I'm happy to help with intros to seed investors." in result.body
    assert result.body.endswith("Best wishes,\nAnn Lee\nFounder, Hookline")
    assert result.missing == ()


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("the pricing page.", "to talk about the pricing page.\n"),
        ("why pricing fails!", "to talk about why pricing fails!\n"),
        ("what to charge?", "to talk about what to charge?\n"),
        ("pricing, etc\u2026", "to talk about pricing, etc\u2026\n"),
        ("pricing", "to talk about pricing.\n"),
    ],
)
def test_a_note_that_ends_its_sentence_gets_no_second_full_stop(note, expected) -> None:
    assert expected in draft(note=note).body


def test_only_a_single_full_stop_after_a_value_is_dropped() -> None:
    values = {"note": "done."}
    assert render_template("{note}. Next", values) == "done. Next"
    assert render_template("{note}...", values) == "done...."
    assert render_template("{note}, then", values) == "done., then"
    assert render_template("{note}.{note}.", values) == "done.done."
    assert render_template("{{note}}.", values) == "{note}."


def test_it_proposes_times_for_a_chat() -> None:
    result = draft(hooks=[HookIn("meet", "next week")], slots=SLOTS, tz="Europe/Berlin")
    assert result.subject == "A chat after PyCon DE?"
    assert "You suggested we talk again next week." in result.body
    assert "- Thursday 16 April, 10:00 (Europe/Berlin)" in result.body
    assert "- Friday 17 April, 14:00 (Europe/Berlin)" in result.body
    assert "- Monday 20 April, 10:00 (Europe/Berlin)" in result.body


def test_it_covers_every_hook_i_owe_in_one_email() -> None:
    hooks = [
        HookIn("meet", "next week"),
        HookIn("send_resource", "the pricing article", ref="7"),
        HookIn("introduce", "Sam at Acme"),
        HookIn("share_lead", "Acme is hiring a DevRel lead"),
        HookIn("ask_advice", "fundraising"),
        HookIn("stay_in_touch"),
        HookIn("custom", "I'll send the conference photos"),
    ]
    result = draft(hooks=hooks, slots=SLOTS, tz="Europe/Berlin")
    assert result.subject == "A chat after PyCon DE?"
    for text in [
        "Thursday 16 April",
        "https://example.com/pricing",
        "introduction to Sam at Acme",
        "Acme is hiring a DevRel lead",
        "advice on fundraising",
        "stay in touch",
        "I'll send the conference photos",
    ]:
        assert text in result.body


def test_it_leaves_what_they_owe_out_of_the_email() -> None:
    hooks = [HookIn("stay_in_touch"), HookIn("send_resource", "their pitch deck", owed_by="them")]
    result = draft(hooks=hooks)
    assert "pitch deck" not in result.body
    assert "pitch deck" not in result.subject


def test_it_writes_a_plain_hello_when_i_owe_nothing() -> None:
    result = draft(hooks=[], note="", offer="")
    assert result.subject == "Great to meet you at PyCon DE"
    assert result.body == (
        "Hi Maria,\n\nIt was good to meet you at PyCon DE.\n\n"
        "Best wishes,\nAnn Lee\nFounder, Hookline"
    )


def test_it_adds_the_privacy_line_to_a_first_message_only() -> None:
    line = (
        "I keep your details from PyCon DE in Hookline, my contacts app; "
        "reply 'forget me' and I'll delete them."
    )
    assert draft(first_message=True).body.endswith(line)
    assert "forget me" not in draft(first_message=False).body


def test_the_privacy_line_survives_custom_templates() -> None:
    templates = {"signoff": "Cheers, {my_name}"}
    assert "reply 'forget me'" in draft(templates=templates, first_message=True).body


def test_it_marks_what_the_user_still_has_to_add() -> None:
    hooks = [
        HookIn("send_resource", "the pricing article"),
        HookIn("meet"),
        HookIn("share_lead"),
        HookIn("custom"),
    ]
    result = draft(hooks=hooks, resources=None)
    assert f"here is the pricing article:\n{ADD_LINK}" in result.body
    assert "[add two or three times that suit you]" in result.body
    assert "[add the lead]" in result.body
    assert result.subject == "The pricing article, as promised"
    assert result.missing == (
        "Add the link for the pricing article.",
        "Add two or three times for the chat.",
        "Add the lead.",
        "Add what you promised.",
    )


def test_it_uses_the_users_own_templates() -> None:
    templates = {
        "send_resource.subject": "For you, {first_name}: {resource_title}",
        "greeting": "Dear {name},",
        "signoff": "Cheers,\n{my_name} ({my_company})",
    }
    result = draft(templates=templates)
    assert result.subject == "For you, Maria: Pricing for dev tools"
    assert result.body.startswith("Dear Maria García,")
    assert "Cheers,\nAnn Lee (Hookline)" in result.body


def test_the_default_templates_use_only_known_placeholders() -> None:
    for key, template in DEFAULT_TEMPLATES.items():
        assert validate_template(template) == [], key


def test_it_refuses_a_hook_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="Unknown hook type"):
        HookIn("bribe")
    with pytest.raises(ValueError, match="owed_by"):
        HookIn("meet", owed_by="nobody")


@pytest.mark.parametrize("value", HOSTILE)
def test_it_inserts_hostile_values_as_inert_text(value: str) -> None:
    person = Person(value + " Smith")
    result = draft(person=person, note=value, hooks=[HookIn("custom", value)], first_message=True)
    flat = value.replace("\r\n", " ")
    assert "\r" not in result.body
    assert "\n" not in result.subject and "\r" not in result.subject
    assert len(result.subject) <= SUBJECT_MAX
    # The note and detail keep their text; the name is folded to one line.
    assert value.replace("\r\n", "\n") in result.body
    assert "<class" not in result.body
    assert result.body.count("\n") < 60
    assert flat.split()[0] in result.body


def test_a_name_with_a_line_break_cannot_break_the_subject() -> None:
    person = Person("Maria\r\nBcc: evil@example.com")
    result = draft(person=person, templates={"send_resource.subject": "Hi {name}"})
    assert result.subject == "Hi Maria Bcc: evil@example.com"


def test_it_renders_only_bare_placeholders() -> None:
    values = {"name": "Maria", "first_name": "M"}
    assert render_template("Hi {name}!", values) == "Hi Maria!"
    assert render_template("{{name}} is {name}", values) == "{name} is Maria"
    assert render_template("{{{name}}}", values) == "{Maria}"
    for template in [
        "{name.__class__}",
        "{name[0]}",
        "{name!r}",
        "{name:>99999999}",
        "{0}",
        "{}",
        "{ name }",
        "{",
        "}",
        "{unknown}",
    ]:
        assert render_template(template, values) == template


def test_it_reports_every_problem_in_a_template() -> None:
    problems = validate_template("Hi {nickname}, {name.__class__} {name:>9} {name!r} { and }")
    assert problems == [
        "Unknown placeholder {nickname}.",
        "Placeholder {name.__class__} must be a plain name like {first_name}.",
        "Placeholder {name:>9} must be a plain name like {first_name}.",
        "Placeholder {name!r} must be a plain name like {first_name}.",
        "Placeholder { and } must be a plain name like {first_name}.",
    ]
    assert validate_template("50% {{off}}") == []
    assert validate_template("a { b") == [
        "Unmatched '{' at position 2; write '{{' for a literal brace."
    ]
    assert validate_template("a } b") == [
        "Unmatched '}' at position 2; write '}}' for a literal brace."
    ]


@given(values=st.dictionaries(st.sampled_from(sorted(PLACEHOLDERS)), st.text()))
def test_any_value_appears_literally(values: dict[str, str]) -> None:
    template = "".join(f"<{{{key}}}>" for key in sorted(values))
    expected = "".join(f"<{values[key]}>" for key in sorted(values))
    assert render_template(template, values) == expected


PIECES = st.sampled_from(
    [
        "{",
        "}",
        "{{",
        "}}",
        "{name}",
        "{first_name}",
        "{nickname}",
        "{name.__class__}",
        "{name[0]}",
        "{name!r}",
        "{name:>99999999}",
        "{0}",
        "Hi ",
        "\n",
        ":",
        "!",
    ]
)


@given(
    template=st.one_of(st.text(), st.lists(st.one_of(PIECES, st.text(max_size=3))).map("".join)),
    values=st.fixed_dictionaries({"name": st.text(), "first_name": st.text()}),
)
def test_any_template_renders_or_is_reported_and_never_runs_code(
    template: str, values: dict[str, str]
) -> None:
    rendered = render_template(template, values)
    if validate_template(template) == []:
        # A clean template means only bare known names: exactly what str.format would do.
        assert rendered == template.format_map(values)
    assert "<class" not in rendered or "<class" in template + "".join(values.values())
    assert len(rendered) <= len(template) + len(template) * max(
        (len(value) for value in values.values()), default=0
    )


def test_it_reminds_me_of_what_they_promised() -> None:
    nudge = compose_nudge(MARIA, HookIn("send_resource", "the deck", "them"), "PyCon DE")
    assert nudge.subject == "Nudge Maria? (PyCon DE)"
    assert nudge.body.startswith(
        "Maria García promised to send you the deck when you met at PyCon DE."
    )
    assert "Just a friendly nudge about the deck" in nudge.body


@pytest.mark.parametrize("value", HOSTILE)
def test_a_nudge_keeps_hostile_input_inert(value: str) -> None:
    nudge = compose_nudge(Person(value), HookIn("custom", value, "them"), value)
    assert "\n" not in nudge.subject and "<class" not in nudge.body
    assert value.replace("\r\n", "\n") in nudge.body


def test_it_asks_before_introducing() -> None:
    ask = compose_intro_ask(ANN, MARIA, Person("Sam Smith"), "Sam runs DevRel at Acme.")
    assert ask.subject == "Introduction to Sam Smith?"
    assert "I'd like to introduce you to Sam Smith.\n\nSam runs DevRel at Acme." in ask.body
    assert "Would an introduction be welcome?" in ask.body
    assert "I won't share your details" in ask.body
    assert ask.body.endswith("Ann Lee")


def test_it_introduces_two_people_to_each_other() -> None:
    intro = compose_introduction(
        ANN, MARIA, Person("Sam Smith"), "Sam hires developer advocates.", "Maria is one."
    )
    assert intro.subject == "Introduction: Maria García and Sam Smith"
    assert intro.body.startswith("Hi Maria and Sam,")
    assert "Maria, meet Sam Smith. Sam hires developer advocates." in intro.body
    assert "Sam, meet Maria García. Maria is one." in intro.body


def test_an_introduction_keeps_hostile_names_inert() -> None:
    intro = compose_introduction(ANN, Person("{why_b}\r\nX"), Person("{a_name}"), "{b_name}", "")
    assert intro.subject == "Introduction: {why_b} X and {a_name}"
    assert "{why_b} X, meet {a_name}. {b_name}" not in intro.body
    assert "{why_b}, meet {a_name}. {b_name}" in intro.body
