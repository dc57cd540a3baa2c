import sys
from pathlib import Path

# Test-support modules (the DAVIS reference port, data writers) live in tests/support.
sys.path.insert(0, str(Path(__file__).parent / "support"))
