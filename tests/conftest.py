import sys
from pathlib import Path

# The tests import their shared helpers (tests/nbtools.py) as a plain module.
sys.path.insert(0, str(Path(__file__).parent))
