"""``python -m infolens``: the ``infolens`` command line (:mod:`infolens.cli`)."""

from infolens.cli import main

raise SystemExit(main())
