import sys

from pianocoach_train.cli import main

sys.exit(main())
