"""Shared by the tests of ``jaxreg run``'s model kinds and plots: a config text run in a
folder, and a config text the CLI must refuse in one line before anything runs."""

import io

from jaxreg.cli import main
from jaxreg.experiment.run import prepare, run_experiment
from jaxreg.experiment.run_config import load_run

# a small config's head: a model list follows
HEAD = """\
name: t
data: {kind: sinusoidal, n_samples: 12}
features: {basis: polynomial, degree: 3}
models:
"""


def run_text(text, folder):
    """Run config ``text`` (written to ``folder/c.yaml``) into ``folder/out``: the config,
    the records, the data split, the run folder and what the run printed."""
    (folder / "c.yaml").write_text(text)
    config, plan = load_run(folder / "c.yaml")
    out = io.StringIO()
    records = run_experiment(config, plan, folder / "out", progress=False, stream=out)
    return config, records, prepare(config), folder / "out", out.getvalue()


def run_error(text, tmp_path, capsys) -> str:
    """The CLI's error for config ``text``: exit code 2, one line, no traceback, no run folder."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    rc = main(["run", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()  # refused before anything ran
    return err
