"""Accounts, sessions and sign-in."""
