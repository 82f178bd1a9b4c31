"""The staff web console (issue 11): an ASGI app that reads and writes through ``store`` only."""
