"""`python -m tinymeta ...`: see tinymeta/cli.py."""
import sys

from tinymeta.cli import main

sys.exit(main())
