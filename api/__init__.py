"""The HTTP API (`main.py`, `deps.py`, `routes/`, `http/`), inspection, and the `wardship` CLI.

Every process builds its application with `bootstrap.bootstrap(settings)`.
"""
