"""Parse the text of a scanned badge or business-card QR code into contact fields.

Plain functions, no Flask: the capture views, the contact matcher and the CLI call these.
"""

from .fields import Badge, linkedin_handle, safe_link
from .parser import BadgeError, parse_lines, parse_payload

__all__ = ["Badge", "BadgeError", "linkedin_handle", "parse_lines", "parse_payload", "safe_link"]
