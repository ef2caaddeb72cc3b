"""Training, evaluation and promotion commands for the data team."""
