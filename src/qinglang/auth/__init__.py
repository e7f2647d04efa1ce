"""Authentication (passwords, API tokens, web sessions) and authorization (one policy for every role)."""
