"""One message through every stage to a verdict and a reply; the daemon, the outbox and alerts."""
