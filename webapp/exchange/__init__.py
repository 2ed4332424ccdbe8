"""Getting data in and out: the portable export."""
