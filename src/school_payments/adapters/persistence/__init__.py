"""PostgreSQL (asyncpg) or SQLite (aiosqlite) through SQLAlchemy Core, one portable code path."""
