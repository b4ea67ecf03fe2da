"""What a serving process loads: the shipped revisions without Alembic (which must agree), and
none of the libraries only other processes use."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from school_payments.adapters.persistence.migrations import alembic_config, revisions


def test_the_revisions_read_from_the_files_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config(None))
    head, known = revisions()
    assert head == script.get_current_head()
    assert known == [revision.revision for revision in script.walk_revisions()]


def test_serving_loads_no_migration_pdf_webhook_delivery_or_console_library() -> None:
    """Each API worker stays ~45 MB smaller: these load only where they are used (rich: never,
    though structlog would import it; tqdm: only by `seed`)."""
    probe = (
        "import sys\n"
        "from school_payments.adapters.web.app import create_api\n"
        "import school_payments.main\n"
        "school_payments.main.configure_logging('INFO')\n"
        "school_payments.main.schema_probe_for\n"
        "from school_payments.adapters.persistence.migrations import revisions\n"
        "revisions()\n"
        "heavy = ('alembic', 'mako', 'fpdf', 'fontTools', 'PIL', 'pgqueuer', 'httpx', 'rich',"
        " 'pygments', 'tqdm')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]"
