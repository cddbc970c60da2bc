"""``python -m refine`` runs the command line."""

from refine.cli import main

if __name__ == "__main__":
    main()
