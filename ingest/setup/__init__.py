"""Getting started: the embedded demo and ``intake init`` for a real deployment."""
