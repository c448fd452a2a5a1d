import sys

from mnist_core.cli.main import main

from .heap import keep_freed_memory

keep_freed_memory()  # a command trains once, from cold (mnist_core.heap)
sys.exit(main())
