"""Outreach: turn captured follow-up hooks into next-morning email drafts."""
