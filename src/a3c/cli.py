"""The command line: `a3c train | eval | plot | export | tune`. User mistakes exit 2 with one paragraph."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from a3c.config import field_help, field_names, read_toml, resumed_config, unknown_field_error
from a3c.defaults import config_for_env
from a3c.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ConfigError, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one paragraph, exit 2, no traceback
        self.print_usage(sys.stderr)
        print(f"a3c: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="a3c", description="Asynchronous advantage actor-critic (A3C / GA3C) for Gymnasium.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_train, _add_eval, _add_plot, _add_export, _add_tune):
        add(sub)
    return parser


TRAIN_DESCRIPTION = (
    "Train an agent on a Gymnasium env. Every config field is a flag below (or --set field=value). "
    "The defaults shown are Config's own: the env's preset, or its family's, changes some of them "
    "(a3c train says which it took), a --config file beats the preset, --set beats the file, and a flag beats --set."
)


def _add_train(sub) -> None:
    train = sub.add_parser("train", help="train an agent", description=TRAIN_DESCRIPTION)
    train.add_argument("env_id", nargs="?", help="Gymnasium id (e.g. CartPole-v1) or module:Class")
    train.add_argument("--config", metavar="FILE.toml", help="a TOML file of config fields")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR in place")
    train.add_argument("--set", metavar="key=value", action="append", default=[], help="set any config field")
    for name in field_names():
        if name == "env_id":
            continue
        train.add_argument(
            "--" + name.replace("_", "-"),
            dest="field_" + name,
            default=None,
            metavar="VALUE",
            help=field_help(name).replace("%", "%%"),  # argparse formats help with %
        )


CHECKPOINT_HELP = (
    "which checkpoint of a run directory: best (default; the weights of the run's best mean return, "
    "which a policy that fell from its peak would otherwise lose) or latest (where training stopped)"
)


def _add_eval(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a trained agent")
    ev.add_argument("path", metavar="RUN_DIR|CHECKPOINT")
    ev.add_argument("--checkpoint", choices=("best", "latest"), default="best", help=CHECKPOINT_HELP)
    ev.add_argument("--episodes", type=int, default=10)
    ev.add_argument(
        "--seed", type=int, default=10_000, help="seed of the first episode (default apart from training seeds)"
    )
    ev.add_argument("--video", metavar="DIR", help="write an MP4 of every episode to DIR")
    ev.add_argument(
        "--sample", action="store_true", help="sample actions from the policy instead of taking the most likely"
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def _add_plot(sub) -> None:
    pl = sub.add_parser("plot", help="plot learning curves of runs")
    pl.add_argument("runs", nargs="+", metavar="RUN_DIR")
    pl.add_argument("-o", "--output", metavar="FILE.png")


def _add_export(sub) -> None:
    ex = sub.add_parser(
        "export",
        help="export a trained policy to ONNX",
        description="Export the greedy policy of a run or checkpoint to ONNX, checked against "
        "the torch agent with onnxruntime (needs pip install 'a3c[onnx]').",
    )
    ex.add_argument("path", metavar="RUN_DIR|CHECKPOINT")
    ex.add_argument("-o", "--output", metavar="POLICY.onnx", required=True)
    ex.add_argument("--checkpoint", choices=("best", "latest"), default="best", help=CHECKPOINT_HELP)
    ex.add_argument(
        "--outputs",
        choices=("action", "all"),
        default="action",
        help="action: the greedy action only (default); all: also the distribution's parameters "
        "(logits, or mean and log_std) and the value",
    )
    ex.add_argument(
        "--observations",
        type=int,
        default=300,
        metavar="N",
        help="observations of greedy episodes on which onnxruntime must agree with torch (default 300)",
    )


def _add_tune(sub) -> None:
    tu = sub.add_parser(
        "tune",
        help="tune hyperparameters with Optuna",
        description="Search config fields with Optuna (needs pip install 'a3c[tune]'). Each trial "
        "trains one run per seed; bad trials are pruned early. The study is kept in "
        "SQL storage: run the same command again to continue it.",
    )
    tu.add_argument("env_id", help="Gymnasium id (e.g. CartPole-v1) or module:Class")
    tu.add_argument(
        "--trials",
        type=int,
        required=True,
        metavar="N",
        help="finished (complete or pruned) trials the study should hold",
    )
    budget = tu.add_mutually_exclusive_group()
    budget.add_argument("--trial-time", type=float, metavar="S", help="seconds of training per seed (default 60)")
    budget.add_argument("--trial-steps", type=int, metavar="N", help="env steps of training per seed")
    tu.add_argument("--seeds", type=int, default=1, metavar="K", help="seeds per trial, trained one after another")
    tu.add_argument(
        "--objective",
        choices=("return", "time"),
        default="return",
        help="return: the mean return of the last 100 episodes at the end (default); "
        "time: time (or steps) to the target return, the budget if not reached",
    )
    tu.add_argument(
        "--space",
        metavar="FILE.toml",
        help="change the search space: [field] tables with low, high, log, step or choices",
    )
    tu.add_argument("--jobs", type=int, default=1, metavar="J", help="trials side by side (default 1)")
    tu.add_argument("--study", metavar="NAME", help="study name (default ENV_ID)")
    tu.add_argument("--study-dir", metavar="DIR", help="where the study's files and runs go (default ./tune-<env>)")
    tu.add_argument(
        "--storage",
        metavar="URL",
        help="an SQLAlchemy URL (default sqlite:///DIR/study.db); machines that share one share the study",
    )
    tu.add_argument(
        "--set",
        metavar="key=value",
        action="append",
        default=[],
        help="fix a config field for every run (and leave it out of the search)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Every field the user set: TOML file first, then --set, then explicit flags."""
    values: dict[str, Any] = {}
    if args.config:
        values.update(read_toml(args.config))
    for item in args.set:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise UserError(f"--set expects key=value, got '{item}'")
        if key not in field_names():
            raise unknown_field_error(key)
        values[key] = value
    for name in field_names():
        value = getattr(args, "field_" + name, None)
        if value is not None:
            values[name] = value
    for key in values:
        if key not in field_names():
            raise unknown_field_error(key)
    # algo picks the preset before the Config validates anything: a list or table there must not reach
    # the preset lookup as a dict key (TypeError), it is a config mistake like any other.
    if "algo" in values and not isinstance(values["algo"], str):
        raise ConfigError("algo", values["algo"], "a3c or ga3c")
    return values


def cmd_train(args: argparse.Namespace) -> int:
    from a3c.training import AlreadyFinished, train

    try:
        result = _train(args, train)
    except AlreadyFinished as done:
        print(f"a3c train: {done}", file=sys.stderr)
        if done.result is not None:
            _print_result_json(done.result)
        return EXIT_OK
    outcome = (
        f"solved in {result.time_to_target_s:.1f} s ({result.steps_to_target:,} steps)"
        if result.solved
        else "not solved"
    )
    print(
        f"{result.env_id}: {outcome}; stopped on {result.stop_reason} after {result.env_steps:,} steps, "
        f"{result.wall_seconds:.1f} s; run directory {result.run_dir}",
        file=sys.stderr,
    )
    _print_result_json(result)
    if result.stop_reason == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK


def _print_result_json(result) -> None:
    print(
        json.dumps(
            {
                k: getattr(result, k)
                for k in (
                    "stop_reason",
                    "solved",
                    "env_steps",
                    "wall_seconds",
                    "mean_return_100",
                    "time_to_target_s",
                    "run_dir",
                )
            }
        )
    )


def _train(args: argparse.Namespace, train):
    overrides = _overrides(args)
    if args.resume:
        from a3c.checkpoint import load_checkpoint

        sidecar, _, _ = load_checkpoint(args.resume)
        return train(resumed_config(sidecar["config"], overrides, args.resume, args.env_id), resume=args.resume)
    else:
        # ENV_ID on the command line beats env_id from --config or --set, as every flag does.
        env_id = args.env_id or overrides.get("env_id")
        overrides.pop("env_id", None)
        if not env_id:
            raise UserError("missing ENV_ID: say which environment to train on, e.g. a3c train CartPole-v1")
        cfg, took = config_for_env(env_id, overrides)
        print(f"a3c train: {env_id} takes {took}; settings given here win", file=sys.stderr)
        return train(cfg)


def cmd_eval(args: argparse.Namespace) -> int:
    from a3c.agent import Agent
    from a3c.evaluate import evaluate

    agent = Agent.load(args.path, args.checkpoint)
    for problem in agent.skipped:
        print(f"a3c eval: warning: skipped a corrupt checkpoint: {problem}", file=sys.stderr)
    if agent.note:
        print(f"a3c eval: note: {agent.note}", file=sys.stderr)
    print(f"a3c eval: loaded {agent.describe()}", file=sys.stderr)
    report = evaluate(
        agent, episodes=args.episodes, seed=args.seed, deterministic=not args.sample, video_dir=args.video
    )
    mode = "greedy" if not args.sample else "sampled"
    print(
        f"{agent.config.env_id}: {mode} return {report['mean_return']:.2f} +/- {report['std_return']:.2f} "
        f"over {report['episodes']} episodes (mean length {report['mean_length']:.1f})"
    )
    if args.video:
        print(f"videos written to {args.video}")
    if args.json:
        print(json.dumps({**report, "checkpoint": agent.checkpoint, "which": agent.which}))
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    from a3c.plot import plot_runs

    output = args.output or (
        str(Path(args.runs[0]) / "learning_curve.png") if len(args.runs) == 1 else "learning_curves.png"
    )
    print(plot_runs(args.runs, output))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from a3c.export import export_policy

    if args.observations < 1:
        raise UserError(f"invalid value for '--observations': {args.observations}. Allowed: a whole number >= 1.")
    report = export_policy(
        args.path, args.output, outputs=args.outputs, observations=args.observations, checkpoint=args.checkpoint
    )
    if report.note:
        print(f"a3c export: note: {report.note}", file=sys.stderr)
    print(f"a3c export: loaded {report.checkpoint} ({report.which}, env_steps {report.env_steps:,})", file=sys.stderr)
    details = [] if "action" in report.differences else ["the same greedy actions"]
    if report.ties:
        details.append(f"{report.ties} ties between equal logits")
    if report.differences:
        details.append(
            "max abs difference " + ", ".join(f"{name} {diff:.2g}" for name, diff in report.differences.items())
        )
    print(
        f"wrote {report.path} (inputs {', '.join(report.inputs)}; outputs {', '.join(report.outputs)}); "
        f"checked with onnxruntime against the torch policy on {report.observations} observations: "
        f"{'; '.join(details)}"
    )
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    from a3c.tune import tune_command

    return tune_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"train": cmd_train, "eval": cmd_eval, "plot": cmd_plot, "export": cmd_export, "tune": cmd_tune}
    from a3c.training import RunFailed

    try:
        return handlers[args.command](args)
    except UserError as exc:
        print(f"a3c {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunFailed as exc:  # the run stopped itself; summary.json, a checkpoint and events.log say more
        print(f"a3c {args.command}: the run stopped with an error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
