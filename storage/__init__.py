"""Persistence: SQLAlchemy models, repositories and Alembic migrations (SQLite or PostgreSQL)."""

from storage.database import Database, create_database, lost_connection
from storage.repositories import Transaction

__all__ = ["Database", "Transaction", "create_database", "lost_connection"]
