"""The watched drop folder: images dropped into a rule's folder become jobs, exactly once.

`rules` (what a folder does), `stability` (is a file complete and usable), `claims` (the file moves),
`ledger` (sha256: never the same bytes twice), `sidecar` (per-image prompt and parameters), `watcher`
(events, scans, polling), `intake` / `submission` / `completion` / `recovery` (the pipeline), `status`
(the panel's data) and `service` (all of it together).
"""

from qwentui.core.dropfolder.rules import DropSettings, Rule, RuleError, default_rules, load_settings
from qwentui.core.dropfolder.service import DropFolderService
from qwentui.core.dropfolder.status import DropStatus, RuleStatus

__all__ = [
    "DropFolderService",
    "DropSettings",
    "DropStatus",
    "Rule",
    "RuleError",
    "RuleStatus",
    "default_rules",
    "load_settings",
]
