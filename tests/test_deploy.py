"""deploy/kubernetes/: what can be checked without Kubernetes or Docker (its README says the rest
is untested). Each test reads the files as they are; none starts anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "kubernetes"
README = (DEPLOY / "README.md").read_text()
VALUES = yaml.safe_load((DEPLOY / "values.yaml").read_text())
DOCKERFILE = (DEPLOY / "Dockerfile.singleuser").read_text()
EXACT_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def image_references(node, where="values") -> list[tuple[str, str]]:
    """(where, "name:tag") for every image in a values tree: `image: {name, tag}` dicts and
    `image: "name:tag"` strings (k8s containers)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, dict):
                found.append((f"{where}.image", f"{value.get('name')}:{value.get('tag') or ''}"))
            elif key == "image" and isinstance(value, str):
                found.append((f"{where}.image", value))
            else:
                found += image_references(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += image_references(item, f"{where}[{index}]")
    return found


def test_every_yaml_file_parses():
    files = sorted(DEPLOY.glob("*.yaml"))
    assert DEPLOY / "values.yaml" in files
    for path in files:
        assert isinstance(yaml.safe_load(path.read_text()), dict), f"{path.name} is not a mapping"


def test_values_pin_every_image_by_an_exact_tag():
    images = image_references(VALUES)
    assert len(images) >= 3, images  # the students' image, the formgrader and its init container
    for where, reference in images:
        name, _, tag = reference.rpartition(":")
        assert name and "@" not in name, f"{where}: {reference!r} has no tag"
        assert EXACT_TAG.fullmatch(tag) and tag != "latest", f"{where}: {reference!r}"


def test_dockerfile_base_image_is_pinned_and_copies_only_existing_files():
    stages = set()
    for line in DOCKERFILE.splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            image = words[1]
            if image not in stages:
                tag = image.partition(":")[2]
                assert re.search(r"\d+\.\d+\.\d+", tag), f"FROM {image}: no exact version"
            if len(words) == 4 and words[2].upper() == "AS":
                stages.add(words[3])
        elif words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            for source in words[1:-1]:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    assert {"student", "grader"} <= stages


def test_students_get_neither_the_source_nor_the_course_volume():
    student_stage, grader_stage = DOCKERFILE.split("FROM student AS grader")
    student_copies = [line.split()[1:-1] for line in student_stage.splitlines()
                      if line.startswith("COPY")]
    assert student_copies and not any(source.startswith(("solutions", "."))
                                      for sources in student_copies for source in sources)
    assert "COPY solutions/" in grader_stage
    volumes = VALUES["singleuser"]["storage"]["extraVolumes"]
    claims = {volume["persistentVolumeClaim"]["claimName"] for volume in volumes}
    assert claims == {"descent-exchange"}
    assert "descent-course" in {v["persistentVolumeClaim"]["claimName"]
                                for v in VALUES["hub"]["extraVolumes"]}


def load_nbgrader_config(monkeypatch, environment: dict[str, str]) -> tuple[Config, dict]:
    for name in ("DESCENT_COURSE_ROOT", "DESCENT_GRADEBOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = Config()
    path = DEPLOY / "nbgrader_config.py"
    namespace = {"get_config": lambda: config, "__file__": str(path), "__name__": "config"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return config, namespace


def test_nbgrader_config_for_students_names_only_the_course_and_exchange(monkeypatch):
    config, _ = load_nbgrader_config(monkeypatch, {})
    assert config.CourseDirectory.course_id == "descent"
    assert config.Exchange.root == "/srv/nbgrader/exchange"
    assert "db_url" not in config.CourseDirectory and "Autograde" not in config


def test_nbgrader_config_for_the_formgrader_grades_in_the_sandbox(monkeypatch, tmp_path):
    url = "postgresql://grader@db.example/descent"
    config, _ = load_nbgrader_config(monkeypatch, {"DESCENT_COURSE_ROOT": str(tmp_path),
                                                   "DESCENT_GRADEBOOK_URL": url})
    steps = config.Autograde.autograde_preprocessors
    assert steps[0] == "autograder.sandboxed.SandboxedAutograde"
    assert not any("Execute" in step for step in steps)
    assert config.CourseDirectory.db_url == url
    assert config.CourseDirectory.root == str(tmp_path)
    from autograder.exchange import SafeCollect

    assert issubclass(config.ExchangeFactory.collect, SafeCollect)


def test_hub_and_nbgrader_give_a_student_the_same_uid(monkeypatch):
    _, nbgrader = load_nbgrader_config(monkeypatch, {})
    hub_namespace = {"c": Config()}
    exec(VALUES["hub"]["extraConfig"]["descent-uids.py"], hub_namespace)
    names = ["alice", "bob@uni.example", "descent-ta", "x" * 64]
    uids = [nbgrader["descent_uid"](name) for name in names]
    assert uids == [hub_namespace["descent_uid"](name) for name in names]
    assert len(set(uids)) == len(names) and min(uids) >= 200_000 and max(uids) < 2**31
    assert hub_namespace["c"].KubeSpawner.pre_spawn_hook is hub_namespace["descent_pre_spawn"]


@pytest.mark.parametrize("pinned", ["chart", "hub", "python", "requirements"])
def test_readme_states_the_versions_the_files_pin(pinned):
    values_text = (DEPLOY / "values.yaml").read_text()
    if pinned == "chart":
        chart = re.search(r"--version (\S+)", values_text).group(1)
        assert f"--version {chart}" in README and f"| {chart} |" in README
    elif pinned == "hub":
        hub = re.search(r"\(JupyterHub (\d+\.\d+\.\d+)\)", values_text).group(1)
        assert f"| JupyterHub in the hub | {hub} |" in README
    elif pinned == "python":
        base = re.search(r"^FROM (\S+) AS student", DOCKERFILE, re.M).group(1)
        assert f"`{base}`" in README
    else:
        requirements = (REPO / "requirements.txt").read_text()
        for package in ("nbgrader", "jupyterhub", "jupyterlab"):
            version = re.search(rf"^{package}==(\S+)", requirements, re.M).group(1)
            assert f"| {version} |" in README, f"README does not state {package} {version}"
    assert "UNTESTED" in README
