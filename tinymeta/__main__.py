"""`python -m tinymeta ...`: see tinymeta/lab/cli.py."""
import sys

from tinymeta.lab.cli import main

sys.exit(main())
