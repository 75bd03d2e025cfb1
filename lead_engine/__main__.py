"""``python -m lead_engine``."""

from lead_engine.cli import main

# Guarded: a process spawned for an import's second core imports this module again and must not run it.
if __name__ == "__main__":
    main()
