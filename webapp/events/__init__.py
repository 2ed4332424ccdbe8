"""Events the user goes to; one is current."""
