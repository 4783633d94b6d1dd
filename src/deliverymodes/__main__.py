"""``python -m deliverymodes compare …``: the same as the ``deliverymodes`` command."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
