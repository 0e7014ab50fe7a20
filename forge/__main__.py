"""`python -m forge`: the same command line as `forge`."""

from .cli import main

main()
