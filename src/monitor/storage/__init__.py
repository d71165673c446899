"""Persistence: SQLAlchemy models, engine factory, Alembic migrations and repositories."""
