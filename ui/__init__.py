"""The Qt front end (PySide6). It uses the core; the core never uses it."""
