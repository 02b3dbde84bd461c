import sys

from ._bench import main

main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
