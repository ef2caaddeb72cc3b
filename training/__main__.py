"""`python -m training ...`: the training CLI (training/cli.py)."""

from training.cli import main

main()
