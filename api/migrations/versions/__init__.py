"""Revisions of the job store's schema, oldest first. Each one is frozen once released."""
