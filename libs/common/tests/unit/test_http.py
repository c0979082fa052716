"""The composed app stays free of pydantic (installed by piccolo, unused by our routes)."""

from __future__ import annotations

import subprocess
import sys


def test_compose_app_does_not_import_pydantic() -> None:
    code = (
        "import sys\n"
        "import piccolo.table  # installs pydantic in this environment\n"
        "from tianji_common.http import compose_app\n"
        "compose_app([], max_body=1024, version='t')\n"
        "assert 'pydantic' not in sys.modules, 'Litestar registered its pydantic plugins'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
