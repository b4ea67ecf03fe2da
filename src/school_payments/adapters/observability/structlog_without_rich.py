"""structlog, imported without rich.

`import structlog` imports rich (and with it pygments and attrs) whenever rich is installed, for
the console renderer's coloured tracebacks; pgqueuer's CLI and the dev tools install it. Our logs
are JSON lines and never use it, and it costs each serving worker ~5 MB (measured: 92 → 87 MB
after importing the app). While structlog loads, `rich` reads as absent, which structlog handles
as it would on a machine without it; a later `import rich` (a CLI tool's) works as usual.
"""

from __future__ import annotations

import sys

_hidden = "rich" not in sys.modules
if _hidden:
    sys.modules["rich"] = None  # type: ignore[assignment]  # None: "absent" to the import system
try:
    import structlog
finally:
    if _hidden:
        del sys.modules["rich"]

__all__ = ["structlog"]
