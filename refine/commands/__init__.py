"""Commands of the ``refine`` command line, one module each."""
