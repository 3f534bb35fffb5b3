import sys

from pianocoach_export.cli import main

sys.exit(main())
