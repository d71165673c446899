"""Real servers and fixtures the delivery tests talk to (webhook receiver, SMTP servers)."""
