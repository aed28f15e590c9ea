"""Domain rules in pure Python: no Qt, no database, no I/O, no clock ("today" is a parameter)."""
