"""The `smoacs` command line, above the flows and the science; nothing imports it."""
