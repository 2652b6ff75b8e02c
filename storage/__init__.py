"""Persistence: SQLAlchemy models, repositories and Alembic migrations (SQLite or PostgreSQL)."""

from storage.database import Database, create_database
from storage.repositories import Transaction

__all__ = ["Database", "Transaction", "create_database"]
