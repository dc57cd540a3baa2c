import sys
from pathlib import Path

# The DAVIS reference port and the test-data writers live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
