"""Story clustering and new-development detection."""
