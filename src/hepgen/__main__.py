"""``python -m hepgen`` runs the command line."""

from hepgen.cli import main

if __name__ == "__main__":
    main()
