"""The embedded development stack: PostgreSQL and the Temporal dev server from wheels."""
