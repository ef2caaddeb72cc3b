"""Vision models: torch definitions, inference wrappers, the model registry, and the shipped
weights with their model cards. Checks in `moderation` call these through the check interface."""
