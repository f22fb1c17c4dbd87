"""The course's Jupyter kernel: ``python -m course_utils.kernel`` registers it inside the venv."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from course_utils.environment import KERNEL_DISPLAY_NAME, KERNEL_NAME, QUIET_ENV


def install_kernel(prefix: str = sys.prefix) -> Path:
    """Register the course kernel in ``prefix`` (the venv), with the quiet environment variables."""
    directory = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    directory.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "env": dict(QUIET_ENV),
        "metadata": {"debugger": True},
    }
    target = directory / "kernel.json"
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(spec, indent=1) + "\n")
    temporary.replace(target)
    return target


if __name__ == "__main__":
    print(f"Installed kernel '{KERNEL_DISPLAY_NAME}' at {install_kernel()}")
