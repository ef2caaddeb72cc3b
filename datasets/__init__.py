"""Dataset builders: export of staff-labelled decisions, synthetic generators, manifests, loaders."""
