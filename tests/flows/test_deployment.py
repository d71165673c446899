"""The deployment in ``deploy/prefect.yaml`` is real: the Prefect CLI deploys it and runs it.

Under the session's test server, the work pool is created, then ``prefect deploy`` and
``prefect deployment run`` are run as subprocesses from the repository root, exactly as the
comments in the file and the README tell a user to. What the server then holds is checked
against the file itself, so a change to the file that the CLI rejects, or that the CLI reads
differently from what the file says, fails here. No worker runs: creating the flow run is the
deployment's part; executing it is covered by the flow test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[2]
PREFECT_FILE = REPO / "deploy" / "prefect.yaml"
POOL = "monitor-process"


CYCLE = "monitor-every-15-min"
PRUNE = "monitor-prune-weekly"


def _spec(name: str = CYCLE) -> dict[str, Any]:
    document = yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))
    assert [d["name"] for d in document["deployments"]] == [CYCLE, PRUNE]
    (deployment,) = [d for d in document["deployments"] if d["name"] == name]
    return dict(deployment)


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``prefect`` command installed next to this interpreter, as a user's shell would."""
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        # Never wait for an answer on stdin.
        PREFECT_CLI_PROMPT="false",
        # A private home: no profile of the machine's user is read or written.
        PREFECT_HOME=str(home),
        # A shell sets PWD to the directory it runs the command in; the pull step reads it.
        PWD=str(REPO),
        COLUMNS="200",
    )
    env.pop("PREFECT_API_KEY", None)
    prefect = Path(sys.executable).with_name("prefect")
    return subprocess.run(
        [str(prefect), "--no-prompt", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def deployment_name(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Deploy the file once for this module; remove the deployment and the pool afterwards."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    assert _spec(CYCLE)["work_pool"]["name"] == _spec(PRUNE)["work_pool"]["name"] == POOL
    name = f"monitor-cycle/{CYCLE}"
    home = tmp_path_factory.mktemp("prefect-home")
    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        _ok(_cli("deploy", "--prefect-file", "deploy/prefect.yaml", "--all", home=home))
        yield name
        for deployed in (name, f"monitor-prune/{PRUNE}"):
            client.delete_deployment(client.read_deployment_by_name(deployed).id)
        client.delete_work_pool(POOL)


def test_deployment_matches_the_file(deployment_name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.schedules import CronSchedule

    spec = _spec()
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name)

    assert deployment.entrypoint == "flows/cycle.py:monitor_cycle" == spec["entrypoint"]
    assert deployment.work_pool_name == POOL
    assert deployment.work_queue_name == spec["work_pool"]["work_queue_name"]
    assert deployment.parameters == spec["parameters"]
    assert "config_path" in deployment.parameters
    assert set(deployment.tags) == set(spec["tags"])

    (file_schedule,) = spec["schedules"]
    (schedule,) = deployment.schedules
    assert isinstance(schedule.schedule, CronSchedule)
    assert schedule.schedule.cron == file_schedule["cron"] == "*/15 * * * *"
    assert schedule.schedule.timezone == file_schedule["timezone"]
    assert schedule.active is True

    # Prefect 3 keeps a deployment's concurrency limit as a global concurrency limit.
    assert spec["concurrency_limit"] == 1
    assert deployment.global_concurrency_limit is not None
    assert deployment.global_concurrency_limit.limit == 1

    # The flow's signature became the parameter schema, so the UI and the CLI validate input.
    properties = (deployment.parameter_openapi_schema or {})["properties"]
    assert set(properties) == {"config_path", "database_url", "poll_all"}

    # A worker starts the flow from the checkout the deployment was made in.
    assert deployment.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    ]


def test_the_retention_deployment_matches_the_file(deployment_name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.schedules import CronSchedule

    spec = _spec(PRUNE)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"monitor-prune/{PRUNE}")

    assert deployment.entrypoint == "flows/maintenance.py:prune_archive_flow" == spec["entrypoint"]
    assert deployment.work_pool_name == POOL
    assert deployment.parameters == spec["parameters"] == {"keep_days": 180, "vacuum": False}
    (schedule,) = deployment.schedules
    assert isinstance(schedule.schedule, CronSchedule)
    assert schedule.schedule.cron == spec["schedules"][0]["cron"] == "30 3 * * 0"
    assert deployment.global_concurrency_limit is not None
    assert deployment.global_concurrency_limit.limit == 1
    properties = (deployment.parameter_openapi_schema or {})["properties"]
    assert set(properties) == {"keep_days", "vacuum", "database_url"}
    assert properties["keep_days"].get("minimum") == 1  # 0 days is refused before a run starts


def test_manual_trigger_creates_a_flow_run(deployment_name: str, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    # A path no scheduled run carries, so the run found below is the one triggered here.
    config_path = str(tmp_path / "monitor.yaml")
    home = tmp_path / "prefect-home"
    home.mkdir()
    param = f"config_path={config_path}"
    out = _ok(_cli("deployment", "run", deployment_name, "--param", param, home=home))

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        )
    manual = [r for r in runs if r.parameters.get("config_path") == config_path]
    assert len(manual) == 1, [r.parameters for r in runs]
    (run,) = manual
    assert run.deployment_id == deployment.id
    assert run.work_pool_name == POOL
    assert str(run.id) in out
    assert run.state is not None
    assert run.state.is_scheduled()
