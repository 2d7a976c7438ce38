"""``python -m bayeslstm``: the command line."""

from .cli.main import main

raise SystemExit(main())
