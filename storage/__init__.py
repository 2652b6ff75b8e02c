"""Persistence: SQLAlchemy models, repositories and Alembic migrations (SQLite or PostgreSQL)."""

from storage.database import AfterCommitFailed, Database, create_database, lost_connection
from storage.repositories import Transaction

__all__ = ["AfterCommitFailed", "Database", "Transaction", "create_database", "lost_connection"]
