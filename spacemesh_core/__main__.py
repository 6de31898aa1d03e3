"""``python -m spacemesh_core`` runs the ``spacemesh`` command line (used where the console script
may not be on PATH, e.g. by ``spacemesh devnet`` for its child processes)."""

from spacemesh_core.cli import main

main()
