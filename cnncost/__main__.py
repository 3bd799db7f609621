"""``python -m cnncost`` runs the command line."""

from cnncost.cli import run

if __name__ == "__main__":
    run()
