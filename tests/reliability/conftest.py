from tests.integration.pg import pg_url, postgres  # noqa: F401  (one PostgreSQL per session)
