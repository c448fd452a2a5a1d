import sys

from .cli import main
from .heap import keep_freed_memory

keep_freed_memory()  # a command trains once, from cold (mnist_core.heap)
sys.exit(main())
