"""The kernel namespace: one submodule per family, the same names in fastgen._core, fastgen._cuda and
the _core type stubs (src/fastgen/_core/*.pyi); nothing kernel-like at the top level of either module."""
import ast
import importlib
import pathlib

import pytest

FAMILIES = ("rng", "emissions", "hmm", "mixture", "rbm", "nn", "autoregressive")
STUBS = pathlib.Path(__file__).resolve().parents[2] / "src" / "fastgen" / "_core"

core = pytest.importorskip("fastgen._core")


def public(mod):
    return {n for n in dir(mod) if not n.startswith("__")}


def stub_names(name):
    tree = ast.parse((STUBS / f"{name}.pyi").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_core_top_level_holds_only_the_submodules():
    assert public(core) == set(FAMILIES) | {"threads"}


@pytest.mark.parametrize("family", FAMILIES)
def test_stubs_match_the_extension(family):
    assert stub_names(family) == public(getattr(core, family))


@pytest.mark.parametrize("family", FAMILIES)
def test_cuda_twin_has_the_same_names(family):
    pytest.importorskip("numba")
    cuda = importlib.import_module("fastgen._cuda")
    assert {n for n in public(cuda) if not n.startswith("_")} >= set(FAMILIES)
    names = public(getattr(core, family)) - {"_matmul"}  # rbm._matmul: a CPU test hook of the common GEMM
    assert set(getattr(cuda, family).__all__) == names
