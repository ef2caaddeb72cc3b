"""The staff pages (Jinja2, a little plain JS, no build step): sign-in, the triage queue, the
case page, and the admin page for accounts and API keys."""
