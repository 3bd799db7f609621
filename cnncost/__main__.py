"""``python -m cnncost`` runs the command line."""

from cnncost.cli import main

main()
