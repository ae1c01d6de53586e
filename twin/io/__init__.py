"""Readers and writers per scan format, behind one registry keyed by format.

Use :func:`twin.io.registry.inspect_scan` and :func:`twin.io.registry.read_scan`;
they pick the reader from the file's content and check it against its extension.
"""
