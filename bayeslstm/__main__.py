"""``python -m bayeslstm``: the command line."""

from .cli import main

raise SystemExit(main())
