"""Training, evaluation and model conversion (installed as ``tagger.training``)."""
