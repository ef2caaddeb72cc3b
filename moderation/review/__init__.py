"""Staff review: the triage queue, case views, finding labels, decisions and the audit log."""
