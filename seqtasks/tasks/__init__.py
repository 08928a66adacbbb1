"""Task kinds: one package each (`tagging`, `classification`), behind the
interface of `seqtasks.tasks.base.TaskKind`; `registry.TASKS` maps a recipe's
task name to its kind."""
