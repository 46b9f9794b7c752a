# SPDX-License-Identifier: Apache-2.0
"""What kind of build the tests run against, read from meson's introspection files, so a
test can scale its load or relax a timing bound in a sanitizer build. Stdlib only."""

import json
import os

import beckon


def sanitized():
    """True if the build under test has -Db_sanitize set (ASan/UBSan are 2-3 times slower and
    their allocator keeps freed memory in quarantine)."""
    try:
        with open(os.path.join(beckon.BUILD_DIR, "meson-info",
                               "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
    except (OSError, ValueError, KeyError):
        return False
    return opts.get("b_sanitize", "none") != "none"
