"""One module per schema version; each is frozen once released (never edit one: add the next)."""
