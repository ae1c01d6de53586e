"""The workspace: settings, SQLite catalog, content-addressed store of raw files, fixity."""
