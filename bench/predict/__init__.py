"""The predictions benchmark: CLV fits on CDNOW and on a million synthetic customers beside
the ``lifetimes`` package fitting the same data in the same run."""
