import sys

from moeids.cli import main

sys.exit(main())
