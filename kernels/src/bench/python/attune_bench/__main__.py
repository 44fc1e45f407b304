import os
import sys

from .cli import main

try:
    sys.exit(main())
except BrokenPipeError:  # stdout closed early (e.g. piped into head): not an error of the run
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)
