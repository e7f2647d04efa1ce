"""Storage: SQLAlchemy models, engine/session handling and Alembic migrations.

Every database access goes through here. SQLite (WAL, one writer) by default, PostgreSQL when scaled out.
"""
