"""The shipped, trained models (installed as the package ``tagger.shipped``)."""
