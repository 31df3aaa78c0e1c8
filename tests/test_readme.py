"""The README's promises: its Python examples run as written, and CI runs its commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_setup_commands():
    setup = re.search(r"## Setup.*?```bash\n(.*?)```", README, flags=re.S).group(1).strip().splitlines()
    assert len(setup) == 2
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for cmd in setup:
        assert cmd in ci, f"README command not in .ci/run: {cmd}"
