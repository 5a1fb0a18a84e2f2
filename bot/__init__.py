"""careprep: the preparation assistant and the domain logic its actions call."""
