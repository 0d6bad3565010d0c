"""bakectl's built-in behaviour, written as ordinary plugins through the public hooks."""
