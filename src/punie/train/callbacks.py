"""The trainer's side concerns, each behind the same few hooks: metrics file, TensorBoard, progress bar,
runs registry and the user's ``(event, record)`` callbacks.

A hook is any object with some of ``on_train(rec)``, ``on_eval(rec, best)``, ``on_step(rec)``,
``log(text)``, ``on_end(result, summary)`` and ``close()``; ``Hooks`` calls them in order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from punie.paths import atomic_write_text

Callback = Callable[[str, dict[str, Any]], None]  # (event: "step" | "eval" | "end", record)


class Hooks:
    def __init__(self, hooks: Sequence[Any]) -> None:
        self.hooks = list(hooks)

    def _call(self, name: str, *args: Any) -> None:
        for hook in self.hooks:
            fn = getattr(hook, name, None)
            if fn is not None:
                fn(*args)

    def on_train(self, rec: dict[str, Any]) -> None:
        self._call("on_train", rec)

    def on_eval(self, rec: dict[str, Any], best: bool) -> None:
        self._call("on_eval", rec, best)

    def on_step(self, rec: dict[str, Any]) -> None:
        self._call("on_step", rec)

    def log(self, text: str) -> None:
        self._call("log", text)

    def on_plan(self, total: int, why: str) -> None:
        """The run's step count changed (a time budget sized it)."""
        self._call("on_plan", total)
        self.log(why)

    def on_end(self, result: Any, summary: dict[str, Any]) -> None:
        self._call("on_end", result, summary)

    def close(self) -> None:
        self._call("close")


class _EveryN:
    """Records every ``log_every``-th train step (and the last one, which a time budget can move) and
    every eval, through ``add``."""

    log_every: int
    iters: int

    def add(self, rec: dict[str, Any]) -> None:
        raise NotImplementedError

    def on_train(self, rec: dict[str, Any]) -> None:
        if rec["step"] % self.log_every == 0 or rec["step"] == self.iters:
            self.add(rec)

    def on_eval(self, rec: dict[str, Any], best: bool) -> None:
        self.add(rec)

    def on_plan(self, total: int) -> None:
        self.iters = total


class MetricsFile(_EveryN):
    """metrics.jsonl; on resume, lines past the checkpoint are dropped. ``records`` is kept on every rank."""

    def __init__(self, out: Path, *, log_every: int, iters: int, resume_step: int | None, enabled: bool) -> None:
        self.path = out / "metrics.jsonl"
        self.records: list[dict[str, Any]] = []
        self.enabled = enabled
        self.log_every, self.iters = log_every, iters
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:  # a run killed mid-append leaves a torn last line; it holds nothing to keep
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and rec.get("step", 0) <= resume_step:
                    self.records.append(rec)
        if enabled:
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))

    def add(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")


class TensorBoard(_EveryN):
    """The numbers of what the metrics file records, when tensorboard is installed."""

    def __init__(self, out: Path, *, log_every: int, iters: int) -> None:
        self.log_every, self.iters = log_every, iters
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tensorboard"))
        except Exception:  # tensorboard is optional
            self.writer = None

    def add(self, rec: dict[str, Any]) -> None:
        if self.writer is not None:
            for k, v in rec.items():
                if isinstance(v, int | float) and k not in ("step", "event"):
                    self.writer.add_scalar(f"{rec['event']}/{k}", v, rec["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class ProgressBar:
    def __init__(self, total: int, start: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TextColumn("{task.fields[acc]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=total, completed=start, loss="-", tps="-", acc="")

    def on_plan(self, total: int) -> None:
        self.bar.update(self.task, total=total)

    def on_train(self, rec: dict[str, Any]) -> None:
        self.bar.update(self.task, advance=1, loss=f"{rec['loss']:.4f}", tps=f"{rec['tokens_per_s']:,.0f}")

    def on_eval(self, rec: dict[str, Any], best: bool) -> None:
        acc_text = "-" if rec["tool_call_accuracy"] is None else f"{100 * rec['tool_call_accuracy']:.1f}%"
        vl = "-" if rec["val_loss"] is None else f"{rec['val_loss']:.4f}"
        self.bar.update(self.task, acc=f"calls {acc_text}")
        self.log(f"step {rec['step']}: val loss {vl}, tool-call accuracy {acc_text}{' (best)' if best else ''}")

    def log(self, text: str) -> None:
        self.bar.console.print(text)

    def on_end(self, result: Any, summary: dict[str, Any]) -> None:
        say(True, f"done: {result.steps} steps in {result.seconds:.0f}s ({result.examples_per_s:.2f} examples/s); "
            f"best tool-call accuracy {pct(result.best_metric)} at step {result.best_step}; "
            f"adapter in {result.best_dir or result.output_dir / 'last'}")

    def close(self) -> None:
        self.bar.stop()


class UserCallbacks:
    """The public ``callbacks=``: each gets ``(event, record)`` for "eval", "step" and "end"."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def _emit(self, event: str, rec: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb(event, rec)

    def on_eval(self, rec: dict[str, Any], best: bool) -> None:
        self._emit("eval", rec)

    def on_step(self, rec: dict[str, Any]) -> None:
        self._emit("step", rec)

    def on_end(self, result: Any, summary: dict[str, Any]) -> None:
        self._emit("end", summary)


class RunsRegistry:
    """Records the finished run in punie's runs registry (``result.run_id``)."""

    def __init__(self, config: dict[str, Any], fingerprint: dict[str, Any]) -> None:
        self.config, self.fingerprint = config, fingerprint

    def on_end(self, result: Any, summary: dict[str, Any]) -> None:
        result.run_id = self.record(result)

    def record(self, result: Any) -> Any:
        try:
            from punie.runs import record_run  # type: ignore[attr-defined]
        except ImportError:
            return None
        try:
            return record_run(
                kind="train",
                model=self.config["model"],
                adapter=str(result.best_dir or result.last_dir),
                data_fingerprint=hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()).hexdigest()[:16],
                config={**self.config, "resolved_dtype": result.resolved_dtype},
                scores={
                    "tool_call_accuracy": result.best_metric,
                    "val_loss": result.best_val_loss,
                    "best_step": result.best_step,
                    "steps": result.steps,
                    "stop_reason": result.stop_reason,
                    "examples_per_s": result.examples_per_s,
                },
                report_path=str(result.output_dir / "metrics.jsonl"),
                duration_s=result.seconds,
            )
        except Exception:  # the registry is a convenience; never fail a finished run over it
            return None


def say(enabled: bool, text: str) -> None:
    if enabled:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(text)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
