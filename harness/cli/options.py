"""What several commands share: the help of common options and reading `--set KEY=VALUE`."""

from __future__ import annotations

from harness.errors import HarnessError

TRACKING_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory)."


def settings(pairs: tuple[str, ...]) -> dict:
    """`--set KEY=VALUE` pairs -> {key: value}; values read as YAML scalars (35, true, fp32, a/path)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"--set expects KEY=VALUE, got '{pair}'.", hint="Example: --set render_factor=21")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


SET_HELP = "A model parameter, KEY=VALUE, as in a spec (repeatable): e.g. --set render_factor=21."
