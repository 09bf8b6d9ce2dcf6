"""Commands of the ``rltop`` command line, one module each."""
