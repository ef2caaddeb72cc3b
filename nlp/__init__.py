"""PHI detection in text: the Presidio analyzer, the spaCy pipeline, custom recognizers."""
