"""The project's errors. A user's mistake (UserError and its kinds) becomes one paragraph and exit
code 2 at the CLI; a run that stopped itself (RunFailed) exits 1 with its reason."""

# The exit codes of the a3c command (DESIGN.md): done, failed, bad input, interrupted.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UserError(Exception):
    """A mistake in what the user asked for: bad config, env id, file or path."""


class ConfigError(UserError):
    """An invalid or unknown configuration field or value."""

    def __init__(self, field: str, value: object, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"invalid value for '{field}': {value!r}. Allowed: {allowed}.")


class CheckpointError(UserError):
    """A checkpoint or run directory that is missing, incomplete or corrupt."""


class RunFailed(Exception):
    """The run stopped itself for a reason it wrote to events.log (a role that keeps dying, updates
    that stay NaN, a lost Ray head node): summary.json and a checkpoint are written; the CLI exits 1
    with the reason."""
