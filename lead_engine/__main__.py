"""``python -m lead_engine``."""

from lead_engine.cli import main

main()
