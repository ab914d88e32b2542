"""Import Debian's python3-websockets (10.4) even when started by another python3.

On the CI/dev machines `python3` on PATH is pyenv's 3.11.7, which does not see
/usr/lib/python3/dist-packages; Debian's package is only importable from
/usr/bin/python3. If the import fails, re-exec this script under /usr/bin/python3.
"""
import os
import sys

DEBIAN_PYTHON = "/usr/bin/python3"

try:
    import websockets  # noqa: F401
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON) and os.access(DEBIAN_PYTHON, os.X_OK):
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, *sys.argv])
    sys.stderr.write("python3-websockets is not installed (run .ci/install-peers.sh)\n")
    sys.exit(3)
