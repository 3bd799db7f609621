"""``python -m cnncost`` runs the command line."""

from cnncost.cli import main

if __name__ == "__main__":
    main()
