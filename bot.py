"""linli's command line, run from a clone: `python bot.py ...` does what `linli ...` does."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
