"""The `twin` command line: parse, call one core function, render."""
