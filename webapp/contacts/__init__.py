"""People the user has met, and each meeting with them."""
