"""Offline-first sync for the phone: POST /api/v1/sync and GET /api/v1/changes."""
