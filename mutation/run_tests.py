"""pytest as mutmut 2.x needs it: mutmut counts only exit code 1 as failing tests, so a mutant
that breaks an import (pytest exits 2, a collection error) would pass as a survivor."""

import sys

import pytest

if __name__ == "__main__":
    sys.exit(0 if pytest.main() == 0 else 1)
