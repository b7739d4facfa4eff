"""The offline harness, kept importable here for the plan command and the tests.

It lives in components/testing.py (installed as ``apertus_azure.testing``) so programs outside
this repository can test themselves against the same mocks.
"""

from components.testing import (  # noqa: F401 (re-exported)
    FAKE_SUBSCRIPTION,
    FAKE_TENANT,
    OFFLINE_WORKSPACE_KEY,
    DEPLOYER_CLIENT_ID,
    OfflineRun,
    RecordingMocks,
    RecordingMonitor,
    Registered,
    _KUBECONFIG,
    _azure_outputs,
    _invoke_results,
    close_thread_loops,
    install_mocks,
    is_secret,
    run_program,
    set_config,
    unwrap_secret,
)
