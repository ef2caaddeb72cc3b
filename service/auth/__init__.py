"""Staff accounts, sign-in sessions, CSRF, the sign-in rate limit and database API keys."""
