"""The event-day capture screens and the one path every capture takes into the database."""
