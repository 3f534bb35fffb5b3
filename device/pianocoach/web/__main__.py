import sys

from pianocoach.web.server import main

if __name__ == "__main__":  # importing the package's modules (a test walks them all) must not start the server
    sys.exit(main())
