import sys

from pianocoach.web.server import main

sys.exit(main())
