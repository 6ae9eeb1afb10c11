"""A sandboxed Workspace that executes the 7 agent tools for real, confined to one root folder.

Public API (stable): ``Workspace``, ``ToolResult``, ``ToolEvent``; ``sandbox`` (the confinement
run_command and the code suite share) and ``Terminal`` (one command, capped output, group kill).

    with Workspace(root, permissions={"run_command": "ask"}, ask=approve) as ws:
        result = ws.execute("read_file", {"path": "src/app.py"})
        result = ws.execute_call({"name": "run_command", "arguments": {"command": "pytest -q"}})
"""

from punie.agent import sandbox
from punie.agent._terminal import Terminal
from punie.agent._workspace import ToolEvent, ToolResult, Workspace

__all__ = ["Terminal", "ToolEvent", "ToolResult", "Workspace", "sandbox"]
