"""The calls view: the live index and its filter."""
