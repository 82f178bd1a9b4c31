"""Generators of real sample files and mails: for the demo, the tests and the benchmarks only."""
