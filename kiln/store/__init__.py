"""Persistence: SQLAlchemy 2 tables, repositories and Alembic migrations.

SQLite (WAL) under the data directory by default, PostgreSQL when KILN_DATABASE_URL says so.
Every row is keyed by (account, region). Migrations run on start.
"""
