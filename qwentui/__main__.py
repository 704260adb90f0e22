import sys

from qwentui.cli import main

sys.exit(main())
