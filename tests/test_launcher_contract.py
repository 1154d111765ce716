"""Hydra's own tests for launcher plugins, run on ours (hydra/launcher=parallel)
and, for the batched sweeper case, with our grid sweeper: what any Hydra sweeper
relies on (JobReturns, job numbering, working directories, task names)."""

import pytest
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)

pytestmark = pytest.mark.usefixtures("fresh_hydra_version_base")


@pytest.mark.parametrize("launcher_name, overrides", [("parallel", [])])
class TestParallelLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    "launcher_name, overrides", [("parallel", ["hydra/sweeper=grid", "hydra.sweeper.max_batch_size=2"])]
)
class TestParallelLauncherWithGridSweeperInBatches(BatchedSweeperTestSuite):
    pass


@pytest.mark.slow
@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [({}, ["-m", "hydra/launcher=parallel"])],
)
class TestParallelLauncherIntegration(IntegrationTestSuite):
    pass
