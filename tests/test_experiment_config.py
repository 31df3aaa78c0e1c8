"""Config machinery: YAML numbers, one-line errors with exit code 2, overrides, grid
expansion, and the sweep grid (cells as configured; what cannot run left out with a note)."""

import importlib.util
import itertools

import pytest
import yaml

from jaxreg.cli import UsageError, main
from jaxreg.experiment import baselines as B
from jaxreg.experiment.config import ConfigLoader, apply_overrides, expand_grid, load_yaml
from jaxreg.experiment.sweep import SweepConfig, expand


@pytest.mark.parametrize(
    "text, value",
    [("1e-3", 1e-3), ("1E6", 1e6), ("-2.5e+2", -250.0), (".5", 0.5), ("1.0e-3", 1e-3), ("3", 3), ("1_000", 1000)],
)
def test_yaml_reads_exponent_floats_as_numbers(text, value):
    got = yaml.load(f"x: {text}", Loader=ConfigLoader)["x"]
    assert got == value and type(got) is type(value)


def test_yaml_loader_leaves_strings_and_the_stock_loader_alone():
    assert yaml.load("x: 1e3abc", Loader=ConfigLoader)["x"] == "1e3abc"
    assert yaml.safe_load("x: 1e-3")["x"] == "1e-3"  # the stock resolver is untouched


BAD = [
    ("problems: [{kind: linear, rhoo: 0.5}]", "problems[0].rhoo: unknown key 'rhoo'", "did you mean 'rho'?"),
    ("repetitons: 2\nproblems: [{kind: linear}]", "repetitons: unknown key", "did you mean 'repetitions'?"),
    ("problems: [{kind: linearr}]", "problems[0].kind = 'linearr' is not allowed", "did you mean 'linear'?"),
    ("problems: [{kind: linear, rho: [0.5, 1.5]}]", "problems[0].rho[1] = 1.5", "less than 1"),
    ("problems: [{kind: linear, n_samples: many}]", "problems[0].n_samples = 'many'", "valid integer"),
    ("problems: [{kind: linear}]\npenalties: [{kind: l2, alpha_ratio: 0.1}]", "penalties[0]:", "give alpha instead"),
    ("problems: [{kind: linear}]\nsolvers: [{solver: fsta}]", "solvers[0].solver = 'fsta'", "did you mean 'fista'?"),
    (
        "problems: [{kind: linear}]\nsolvers: [{solver: sgd, options: {learning_rat: 1}}]",
        "learning_rat",
        "'learning_rate'",
    ),
    ("problems: [{kind: linear}]\nsolvers: [{solver: sgd, options: {batch_size: -3}}]", "batch_size=-3", "> 0"),
    ("problems: [{kind: linear}]\nbaselines: [{peer: sklean}]", "baselines[0].peer = 'sklean'", "'sklearn'?"),
    (
        "problems: [{kind: linear}]\nloss: logistic",
        "loss = 'logistic' does not fit problems[0]",
        "allowed: auto, squared",
    ),
    ("problems: [{kind: linear}]\ndtype: float16", "dtype[0] = 'float16'", "'float32' or 'float64'"),
    ("problems: [{kind: linear, n_features: []}]", "problems[0].n_features = []", "at least one value"),
    ("problems: {kind: linear", "malformed YAML at line", ""),
    ("- just\n- a list", "top level must be a mapping", ""),
]


@pytest.mark.parametrize("body, part1, part2", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_sweep_configs_give_one_line_and_exit_code_2(tmp_path, capsys, body, part1, part2):
    methods = "" if "solvers" in body or "baselines" in body else "solvers: [{solver: fista}]\n"
    path = tmp_path / "bad.yaml"
    path.write_text(body if body.startswith("-") else f"name: t\n{methods}{body}")
    assert main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxreg: error: ") and "Traceback" not in err
    assert part1 in err and part2 in err


def test_missing_config_file(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.yaml"), "--dry-run"]) == 2
    assert "nope.yaml' does not exist" in capsys.readouterr().err


def test_overrides_set_nested_values_as_yaml():
    raw = {"repetitions": 3, "problems": [{"kind": "linear", "n_features": 10}]}
    out = apply_overrides(raw, ["repetitions=1", "problems.0.n_features=[5, 1e3]", "target=1e-4", "new.key=x"])
    assert out == {
        "repetitions": 1,
        "problems": [{"kind": "linear", "n_features": [5, 1000.0]}],
        "target": 1e-4,
        "new": {"key": "x"},
    }
    assert raw["repetitions"] == 3  # a copy
    with pytest.raises(UsageError, match="out of range"):
        apply_overrides(raw, ["problems.3.rho=0.1"])
    with pytest.raises(UsageError, match="key.path=value"):
        apply_overrides(raw, ["repetitions"])


def test_expand_grid_is_the_product_of_nested_lists_first_key_slowest():
    points = expand_grid({"a": [1, 2], "b": "x", "o": {"c": [3, 4, 5]}})
    assert [p for p, _ in points] == [
        {"a": a, "b": "x", "o": {"c": c}} for a, c in itertools.product([1, 2], [3, 4, 5])
    ]
    assert points[4][1] == {("a",): 1, ("o", "c"): 1}
    assert expand_grid({"a": 1}) == [({"a": 1}, {})]


GRID = {
    "name": "grid",
    "dtype": ["float32", "float64"],
    "problems": [
        {"kind": "linear", "n_samples": 30, "n_features": [8, 16], "rho": [0.0, 0.5], "n_informative": 3},
        {"kind": "linear", "n_samples": 20, "n_features": 40, "rho": 0.9},
    ],
    "penalties": [{"kind": "l1", "alpha_ratio": [0.1, 0.01]}, {"kind": "l2", "alpha": 0.5}],
    "solvers": [
        {"solver": ["fista", "ista"], "tol": [1e-4, 1e-8]},
        {"solver": "closed_form"},
        {"solver": "sgd", "options": {"learning_rate": [0.1, 0.01]}},
    ],
    "baselines": [{"peer": ["sklearn", "skglm", "celer"], "tol": 1e-8}],
}


def test_sweep_grid_expands_as_configured():
    cells, notes = expand(SweepConfig.model_validate(GRID), devices={"cpu"})
    problems = [(8, 0.0), (8, 0.5), (16, 0.0), (16, 0.5), (40, 0.9)]
    penalties = [("l1", 0.1), ("l1", 0.01), ("l2", 0.5)]
    jax_methods = [("jaxreg:fista", 1e-4), ("jaxreg:fista", 1e-8), ("jaxreg:ista", 1e-4), ("jaxreg:ista", 1e-8)]
    jax_methods += [("jaxreg:closed_form", None)]
    jax_methods += [("jaxreg:sgd(learning_rate=0.1)", None), ("jaxreg:sgd(learning_rate=0.01)", None)]
    # skglm and celer are optional (extra `bench`): a peer that is not installed is left out
    installed = {lib: importlib.util.find_spec(lib) is not None for lib in ("skglm", "celer")}
    peers = {
        "l1": ["sklearn:Lasso"] + [f"{lib}:Lasso" for lib in ("skglm", "celer") if installed[lib]],
        "l2": ["sklearn:Ridge"],
    }
    expected = []
    for (p, rho), (kind, a), dtype in itertools.product(problems, penalties, GRID["dtype"]):
        for fam, tol in jax_methods:
            if not (fam == "jaxreg:closed_form" and kind == "l1"):
                expected.append((p, rho, kind, a, fam, tol, dtype))
        expected += [(p, rho, kind, a, fam, 1e-8, dtype) for fam in peers[kind]]
    got = []
    for c in cells:
        pen = c.payload["penalty"]
        a = pen["alpha_ratio"] if pen["kind"] == "l1" else pen["alpha"]
        prob = c.payload["problem"]
        got.append((prob["n_features"], prob["rho"], pen["kind"], a, c.info["family"], c.info["tol"], c.info["dtype"]))
    assert got == expected  # same cells, same order (grouped by problem)
    assert len({c.cell_id for c in cells}) == len(cells)
    assert any("closed_form cannot fit" in n and "(20 cells left out)" in n for n in notes)
    if installed["skglm"]:
        assert any("skglm has no estimator for loss 'squared' with penalty 'l2'" in n for n in notes)
    else:
        assert any(n.startswith("skglm is not installed") for n in notes)


def test_missing_peer_and_missing_gpu_are_left_out_with_notes(monkeypatch):
    monkeypatch.setitem(B.PEERS, "celer", B.Peer("celer", "jaxreg_no_such_module", "celer", "pip install celer"))
    config = SweepConfig.model_validate({**GRID, "device": ["cpu", "gpu"], "dtype": "float64"})
    cells, notes = expand(config, devices={"cpu"})
    assert not any(c.info["library"] == "celer" for c in cells)
    assert not any(c.info["device"] == "gpu" for c in cells)
    assert any(n.startswith("celer is not installed") for n in notes)
    assert any(n.startswith("device 'gpu' is not available here") for n in notes)
    gpu_only = SweepConfig.model_validate({**GRID, "device": "gpu", "dtype": "float64"})
    cells, notes = expand(gpu_only, devices={"cpu"})
    assert cells == [] and any("peers left out" in n for n in notes)


def test_shipped_sweeps_validate_and_expand():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs" / "sweeps"
    names = sorted(p.stem for p in root.glob("*.yaml"))
    assert names == [
        "glm_cpu",
        "gpu_large_p",
        "group_lasso_cpu",
        "lasso_cpu",
        "ridge_closed_form",
        "smoke",
        "stochastic",
    ]
    for name in names:
        config = SweepConfig.model_validate(load_yaml(root / f"{name}.yaml"))
        cells, _ = expand(config, str(root / f"{name}.yaml"), devices={"cpu", "gpu"})
        assert config.name == name and cells
