"""`python -m seqtasks` runs the command-line interface."""

from seqtasks.cli import main

raise SystemExit(main())
