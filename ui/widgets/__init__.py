"""Widgets the screens share: the one date field, guards against accidental wheel changes."""
