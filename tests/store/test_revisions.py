"""The migrations' revisions read without Alembic agree with Alembic's, in both the
forms its templates write; a folder without one line of revisions is refused."""

import shutil

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from moalab.core.errors import InvalidArgument
from moalab.store.database import MIGRATIONS
from moalab.store.revisions import script_head, script_revisions

ANNOTATED_NEXT = '''"""A test-only next revision, as Alembic's newer template writes it."""
from typing import Sequence, Union

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
'''


@pytest.fixture
def migrations(tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def alembic_revisions(folder) -> tuple[dict[str, str | None], str]:
    config = Config()
    config.set_main_option("script_location", str(folder))
    scripts = ScriptDirectory.from_config(config)
    return ({script.revision: script.down_revision for script in scripts.walk_revisions()},
            scripts.get_current_head())


def test_the_revisions_agree_with_alembics(migrations):
    (migrations / "versions" / "0004_annotated.py").write_text(ANNOTATED_NEXT)
    revisions = script_revisions(migrations)
    assert (revisions, script_head(revisions, migrations)) == alembic_revisions(migrations)
    assert script_head(revisions, migrations) == "0004"


def test_two_last_revisions_are_refused(migrations):
    (migrations / "versions" / "0004_branch.py").write_text(
        ANNOTATED_NEXT.replace('"0003"', '"0002"'))
    with pytest.raises(InvalidArgument, match=r"2 last revisions \(0003, 0004\)"):
        script_head(script_revisions(migrations), migrations)


def test_a_script_without_a_revision_is_refused(migrations):
    (migrations / "versions" / "0004_empty.py").write_text('"""No revision here."""\n')
    with pytest.raises(InvalidArgument, match=r"0004_empty.py' declares no revision"):
        script_revisions(migrations)
