"""The user's own details, shown on their card and in drafts."""
