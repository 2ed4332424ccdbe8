"""Build, send and hand off follow-up emails safely: no header injection, clear errors.

Configured from the environment (see docs/outreach.md, "Sending mail"); without SMTP_HOST the
app is not configured to send and offers mailto:, .eml download and copy instead.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email

Attachment = tuple[str, str, bytes]

# Same folding as outreach.compose.one_line, kept local so mail imports no feature package.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_MIME_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class MailError(Exception):
    """A mail problem explained in words a user or operator can act on."""


@dataclass(frozen=True)
class MailSettings:
    """How to reach the SMTP server; built from the environment by settings_from."""

    host: str
    port: int = 587
    username: str | None = None
    # Kept out of repr so a logged settings object never leaks the secret.
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ssl: bool = False
    sender: str | None = None
    timeout: float = 10.0


def one_line(value: str) -> str:
    """Fold line breaks and control characters to single spaces so a value stays one line."""
    return _CONTROL.sub(" ", value).strip()


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Read a true/false environment variable, refusing anything ambiguous."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise MailError(f"{name} must be true or false, not {env[name]!r}.")


def settings_from(env: Mapping[str, str]) -> MailSettings | None:
    """Return MailSettings from SMTP_* / MAIL_SENDER variables, or None when SMTP_HOST is unset."""
    host = env.get("SMTP_HOST", "").strip()
    if not host:
        return None
    use_ssl = _flag(env, "SMTP_SSL", False)
    # Implicit TLS and STARTTLS are alternatives; SMTP_SSL alone turns STARTTLS off.
    starttls = _flag(env, "SMTP_STARTTLS", not use_ssl)
    if use_ssl and starttls:
        raise MailError("Set either SMTP_SSL or SMTP_STARTTLS to true, not both.")
    raw_port = env.get("SMTP_PORT", "").strip()
    try:
        port = int(raw_port) if raw_port else (465 if use_ssl else 587)
    except ValueError:
        raise MailError(f"SMTP_PORT must be a number, not {raw_port!r}.") from None
    if not 0 < port < 65536:
        raise MailError(f"SMTP_PORT must be between 1 and 65535, not {port}.")
    raw_timeout = env.get("SMTP_TIMEOUT", "").strip()
    try:
        timeout = float(raw_timeout) if raw_timeout else 10.0
    except ValueError:
        raise MailError(f"SMTP_TIMEOUT must be a number of seconds, not {raw_timeout!r}.") from None
    if not timeout > 0:
        raise MailError(f"SMTP_TIMEOUT must be more than 0 seconds, not {raw_timeout!r}.")
    sender = env.get("MAIL_SENDER", "").strip() or None
    return MailSettings(
        host=host,
        port=port,
        username=env.get("SMTP_USERNAME", "").strip() or None,
        password=env.get("SMTP_PASSWORD") or None,
        starttls=starttls,
        ssl=use_ssl,
        sender=check_address(sender, "MAIL_SENDER") if sender else None,
        timeout=timeout,
    )


def check_address(address: str, what: str = "Email address") -> str:
    """Return the normalised ASCII form of an email address, or raise MailError saying why."""
    try:
        info = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise MailError(f"{what} {address!r} is not valid: {exc}") from None
    return info.ascii_email or info.normalized


def _address(name: str, address: str, what: str) -> Address:
    """Return a header Address; the display name is folded to one line so it adds no headers."""
    addr_spec = check_address(address, what)
    username, domain = addr_spec.rsplit("@", 1)
    return Address(display_name=one_line(name), username=username, domain=domain)


def _split_mimetype(mimetype: str) -> tuple[str, str, dict[str, str]]:
    """Split 'text/calendar; method=REQUEST' into maintype, subtype and parameters."""
    kind, _, rest = mimetype.partition(";")
    maintype, slash, subtype = kind.strip().lower().partition("/")
    if not (slash and _MIME_TOKEN.fullmatch(maintype) and _MIME_TOKEN.fullmatch(subtype)):
        raise MailError(f"Attachment type {mimetype!r} is not a valid MIME type.")
    params: dict[str, str] = {}
    for item in rest.split(";"):
        key, eq, value = item.partition("=")
        if eq and key.strip():
            params[one_line(key).lower()] = one_line(value).strip('"')
    return maintype, subtype, params


def build_message(
    from_name: str,
    from_email: str,
    to_name: str,
    to_email: str,
    subject: str,
    body: str,
    sender: str | None = None,
    attachments: Sequence[Attachment] = (),
    *,
    now: datetime | None = None,
) -> EmailMessage:
    """Build a plain-text email from the user, optionally sent via a configured sender address.

    With a sender, From is '"User via Hookline" <sender>' and Reply-To is the user, so replies
    reach them while the mail passes the sending domain's SPF/DMARC checks.
    """
    user = _address(from_name, from_email, "Your email address")
    recipient = _address(to_name, to_email, "The recipient's email address")
    message = EmailMessage(policy=policy.default)
    if sender:
        relay = check_address(sender, "The configured sender address")
        username, domain = relay.rsplit("@", 1)
        label = f"{user.display_name} via Hookline" if user.display_name else "Hookline"
        message["From"] = Address(display_name=label, username=username, domain=domain)
        message["Reply-To"] = user
    else:
        message["From"] = user
    message["To"] = recipient
    # Folding CR/LF to spaces (rather than refusing) keeps a pasted subject usable, and no
    # line break means nothing after it can ever become a header of its own.
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    message["Message-ID"] = make_msgid(domain=message["From"].addresses[0].domain)
    message.set_content(body.replace("\r\n", "\n").replace("\r", "\n"))
    for filename, mimetype, data in attachments:
        maintype, subtype, params = _split_mimetype(mimetype)
        message.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=one_line(filename), params=params
        )
    return message


def send(settings: MailSettings, message: EmailMessage) -> str:
    """Send message over SMTP as configured and return its Message-ID, or raise MailError."""
    if message["Message-ID"] is None:
        message["Message-ID"] = make_msgid()
    context = ssl.create_default_context()
    where = f"{settings.host}:{settings.port}"
    try:
        smtp: smtplib.SMTP
        if settings.ssl:
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.starttls and not settings.ssl:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    # Never fall back to plain text: the password and the mail would travel bare.
                    raise MailError(
                        f"The mail server {where} does not offer STARTTLS; "
                        "set SMTP_SSL=true or fix the server, or SMTP_STARTTLS=false "
                        "only for a trusted local relay."
                    )
                smtp.starttls(context=context)
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(message)
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"The mail server {where} lacks a needed feature: {exc}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"The mail server {where} rejected the username or password.") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(exc.recipients)
        raise MailError(f"The mail server {where} refused the recipient {refused}.") from exc
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(f"The mail server {where} refused the sender {exc.sender}.") from exc
    except smtplib.SMTPException as exc:
        raise MailError(f"Sending through {where} failed: {exc}") from exc
    except OSError as exc:
        # Covers refused connections, DNS failures, TLS errors (SSLError) and timeouts alike.
        raise MailError(f"Could not reach the mail server {where}: {exc}") from exc
    return str(message["Message-ID"])


def mailto_link(to: str, subject: str, body: str, cc: str | Sequence[str] | None = None) -> str:
    """Return an RFC 6068 mailto: link that opens the draft in the user's own mail app."""
    # Only unreserved characters stay bare, so &, ?, #, %, + and = in the text cannot break
    # the query; quote() writes spaces as %20, never '+', which mail clients would show.
    addresses = [check_address(to, "The recipient's email address")]
    link = "mailto:" + ",".join(quote(address, safe="@") for address in addresses)
    fields: list[tuple[str, str]] = []
    if cc:
        cc_list = [cc] if isinstance(cc, str) else list(cc)
        checked = [check_address(address, "The Cc address") for address in cc_list]
        fields.append(("cc", ",".join(quote(address, safe="@") for address in checked)))
    # RFC 6068 wants line breaks in a body as CRLF, i.e. %0D%0A.
    text = body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    fields.append(("subject", quote(one_line(subject), safe="")))
    fields.append(("body", quote(text, safe="")))
    return link + "?" + "&".join(f"{key}={value}" for key, value in fields)


def eml_bytes(message: EmailMessage) -> bytes:
    """Return the message as an .eml file that mail apps open as an unsent draft."""
    # X-Unsent makes Outlook open the file as an editable draft; other apps ignore it.
    return b"X-Unsent: 1\r\n" + message.as_bytes(policy=policy.SMTP)
