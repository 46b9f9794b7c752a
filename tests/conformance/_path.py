# SPDX-License-Identifier: Apache-2.0
"""Puts tests/harness on sys.path so each test script can `import beckon`."""
import os
import sys

# Keep the source tree free of __pycache__ when scripts are run by hand.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
