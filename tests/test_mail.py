"""Mail against a real local SMTP server: headers, sender/Reply-To, injection, hand-offs."""

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope

from webapp.mail import (
    MailError,
    MailSettings,
    build_message,
    eml_bytes,
    mailto_link,
    send,
    settings_from,
)
from webapp.outreach.invite import INVITE_FILENAME, INVITE_MIMETYPE, chat_invitation


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every envelope it receives."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        """Store the envelope and accept it."""
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        """Return the received messages, parsed the way a mail client would."""
        return [
            email.message_from_bytes(envelope.content, policy=policy.default)
            for envelope in self.envelopes
        ]


def free_port() -> int:
    """Return a port nobody listens on; aiosmtpd cannot start on port 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """Accept only ann / s3cret."""
    ok = (auth_data.login, auth_data.password) == (b"ann", b"s3cret")
    # handled=False makes aiosmtpd answer 535 itself; the default leaves the client waiting.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """Run a plain SMTP server (no TLS, no auth) on localhost."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def auth_inbox() -> Iterator[tuple[Inbox, int]]:
    """Run an SMTP server that wants a login (over plain text, fine for localhost tests)."""
    handler = Inbox()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=check_login,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def plain(port: int, **overrides) -> MailSettings:
    """Return settings for the local test server, which offers no STARTTLS."""
    return MailSettings(**{"host": "127.0.0.1", "port": port, "starttls": False, **overrides})


def message(**overrides) -> EmailMessage:
    """Build Ann's follow-up to Maria."""
    args = {
        "from_name": "Ann Lee",
        "from_email": "ann@example.com",
        "to_name": "María García",
        "to_email": "maria@example.org",
        "subject": "Pricing for dev tools, as promised",
        "body": "Hi Maria,\n\nHere it is: https://example.com/pricing\n\nAnn",
    }
    args.update(overrides)
    return build_message(**args)


def test_it_sends_the_follow_up_to_the_recipient(inbox) -> None:
    handler, port = inbox
    message_id = send(plain(port), message())
    [envelope] = handler.envelopes
    assert envelope.mail_from == "ann@example.com"
    assert envelope.rcpt_tos == ["maria@example.org"]
    [received] = handler.messages()
    assert received["From"] == "Ann Lee <ann@example.com>"
    assert received["To"].addresses[0].display_name == "María García"
    assert received["To"].addresses[0].addr_spec == "maria@example.org"
    assert received["Subject"] == "Pricing for dev tools, as promised"
    assert received["Message-ID"] == message_id
    assert message_id.endswith("@example.com>")
    assert received["Date"].datetime.tzinfo is not None
    assert received["Reply-To"] is None
    # On the wire lines end in CRLF; a mail client shows them as plain line breaks.
    text = received.get_content().replace("\r\n", "\n")
    assert text == "Hi Maria,\n\nHere it is: https://example.com/pricing\n\nAnn\n"


def test_it_sends_via_the_configured_sender_with_reply_to_the_user(inbox) -> None:
    handler, port = inbox
    send(plain(port), message(sender="hello@hookline.example"))
    [envelope] = handler.envelopes
    assert envelope.mail_from == "hello@hookline.example"
    [received] = handler.messages()
    [sender] = received["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Ann Lee via Hookline",
        "hello@hookline.example",
    )
    assert received["Reply-To"] == "Ann Lee <ann@example.com>"
    assert received["Message-ID"].endswith("@hookline.example>")


def test_it_attaches_a_calendar_invitation(inbox) -> None:
    handler, port = inbox
    ics = chat_invitation(
        "ann@example.com",
        "Ann Lee",
        "maria@example.org",
        "Maria",
        datetime(2026, 4, 20, 8, 0, tzinfo=UTC),
        30,
        "Chat",
        "",
        "chat-1@hookline",
    )
    send(plain(port), message(attachments=[(INVITE_FILENAME, INVITE_MIMETYPE, ics)]))
    [received] = handler.messages()
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "REQUEST"
    assert attachment.get_payload(decode=True) == ics
    assert received.get_body(("plain",)).get_content().startswith("Hi Maria,")


@pytest.mark.parametrize(
    "field_name",
    ["subject", "to_name", "from_name"],
)
def test_header_injection_never_adds_a_header(inbox, field_name: str) -> None:
    handler, port = inbox
    attack = "Hi\r\nBcc: evil@example.net\r\nX-Evil: 1\n\nbody"
    send(plain(port), message(**{field_name: attack}, sender="hello@hookline.example"))
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == ["maria@example.org"]
    [received] = handler.messages()
    assert received["Bcc"] is None
    assert received["X-Evil"] is None
    assert "evil@example.net" not in [address.addr_spec for address in received["To"].addresses]
    assert sorted(received.keys()) == sorted(
        ["From", "Reply-To", "To", "Subject", "Date", "Message-ID"]
        + ["Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
    )


def test_a_subject_with_a_line_break_is_folded_to_one_line() -> None:
    assert message(subject="Hi\r\nBcc: evil@x.com")["Subject"] == "Hi Bcc: evil@x.com"


def test_a_display_name_with_address_syntax_stays_one_address(inbox) -> None:
    handler, port = inbox
    send(plain(port), message(to_name='Evil <evil@example.net>, "Bob" bob@example.net'))
    [received] = handler.messages()
    [address] = received["To"].addresses
    assert address.addr_spec == "maria@example.org"
    assert address.display_name == 'Evil <evil@example.net>, "Bob" bob@example.net'
    assert handler.envelopes[0].rcpt_tos == ["maria@example.org"]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"to_email": "not-an-address"}, "recipient's email address"),
        ({"to_email": "maria@example.org\r\nBcc: evil@x.com"}, "recipient's email address"),
        ({"from_email": "ann@@example.com"}, "Your email address"),
        ({"sender": "hookline"}, "configured sender"),
        ({"attachments": [("a.txt", "text", b"x")]}, "MIME type"),
    ],
)
def test_it_explains_invalid_input(overrides: dict, words: str) -> None:
    with pytest.raises(MailError, match=words):
        message(**overrides)


def test_it_logs_in_when_configured(auth_inbox) -> None:
    handler, port = auth_inbox
    send(plain(port, username="ann", password="s3cret"), message())
    assert len(handler.envelopes) == 1


def test_it_explains_a_rejected_login(auth_inbox) -> None:
    handler, port = auth_inbox
    with pytest.raises(MailError, match="rejected the username or password"):
        send(plain(port, username="ann", password="wrong"), message())
    assert handler.envelopes == []


def test_it_refuses_to_send_in_clear_when_starttls_is_missing(inbox) -> None:
    handler, port = inbox
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send(plain(port, starttls=True, username="ann", password="s3cret"), message())
    assert handler.envelopes == []


def test_it_explains_an_unreachable_server() -> None:
    with pytest.raises(MailError, match="Could not reach the mail server 127.0.0.1:"):
        send(plain(free_port(), timeout=2.0), message())


def test_it_reads_settings_from_the_environment() -> None:
    assert settings_from({}) is None
    assert settings_from({"SMTP_HOST": "  "}) is None
    settings = settings_from(
        {
            "SMTP_HOST": "smtp.example.com",
            "SMTP_USERNAME": "ann",
            "SMTP_PASSWORD": "s3cret",
            "MAIL_SENDER": "hello@hookline.example",
            "SMTP_TIMEOUT": "5",
        }
    )
    assert settings == MailSettings(
        host="smtp.example.com",
        port=587,
        username="ann",
        password="s3cret",
        starttls=True,
        ssl=False,
        sender="hello@hookline.example",
        timeout=5.0,
    )
    assert "s3cret" not in repr(settings)


def test_implicit_tls_defaults_to_port_465_without_starttls() -> None:
    settings = settings_from({"SMTP_HOST": "smtp.example.com", "SMTP_SSL": "true"})
    assert settings is not None
    assert (settings.port, settings.ssl, settings.starttls) == (465, True, False)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT must be a number"),
        ({"SMTP_PORT": "70000"}, "between 1 and 65535"),
        ({"SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS must be true or false"),
        ({"SMTP_SSL": "yes", "SMTP_STARTTLS": "yes"}, "not both"),
        ({"SMTP_TIMEOUT": "0"}, "more than 0"),
        ({"MAIL_SENDER": "hookline"}, "MAIL_SENDER"),
    ],
)
def test_it_explains_bad_settings(env: dict[str, str], words: str) -> None:
    with pytest.raises(MailError, match=words):
        settings_from({"SMTP_HOST": "smtp.example.com", **env})


def test_it_builds_a_mailto_link_per_rfc_6068() -> None:
    link = mailto_link(
        "maria+pycon@example.org",
        "Pricing & more? #1 100%",
        "Hi María,\nhere: https://example.com/?a=1&b=2#top\n\nAnn",
    )
    assert link.startswith("mailto:maria%2Bpycon@example.org?subject=")
    assert "Pricing%20%26%20more%3F%20%231%20100%25" in link
    assert "%0D%0A" in link
    assert "Mar%C3%ADa" in link
    assert "+" not in link and " " not in link and "\n" not in link


def test_a_mailto_link_round_trips_through_urllib() -> None:
    subject = "Pricing & more? #1 100% + ünïcödé"
    body = "Hi María,\nline two & ?=#%+\n\nAnn"
    link = mailto_link("maria@example.org", subject, body, cc=["sam@example.com"])
    parts = urlsplit(link)
    assert parts.scheme == "mailto"
    assert parts.fragment == ""
    assert unquote(parts.path) == "maria@example.org"
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert query == {
        "cc": ["sam@example.com"],
        "subject": [subject],
        "body": [body.replace("\n", "\r\n")],
    }


def test_a_mailto_subject_stays_on_one_line() -> None:
    link = mailto_link("maria@example.org", "Hi\r\nBcc: evil@x.com", "")
    assert "%0D" not in link.split("&body=")[0]


def test_it_refuses_a_mailto_link_to_a_bad_address() -> None:
    with pytest.raises(MailError):
        mailto_link("maria@example.org?bcc=evil@x.com", "Hi", "")


def test_it_downloads_an_eml_that_opens_as_a_draft() -> None:
    data = eml_bytes(message(now=datetime(2026, 4, 16, 7, 0, tzinfo=UTC)))
    assert data.startswith(b"X-Unsent: 1\r\n")
    assert b"\r\n\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert parsed["Subject"] == "Pricing for dev tools, as promised"
    assert parsed["Date"] == "Thu, 16 Apr 2026 07:00:00 +0000"
    assert parsed.get_content().startswith("Hi Maria,")
