"""``train(config)``: LoRA training with shared-prefix batches, generated-call evals, best/last, resume.

The loop reads top to bottom: plan the step's micro-batches, forward/backward each (loss summed over
supervised tokens, divided by the global batch's token count, so 1 or N processes give the same
gradient), clip, step, then — every ``eval_every`` steps — validation loss and tool-call accuracy,
best/last adapters, checkpoint and early stopping. ``_Run`` holds the setup (data, model, LoRA,
optimizer), the step and the eval; ``BestTracker`` the best eval and patience, saved in the checkpoint;
side concerns (metrics file, TensorBoard, progress bar, runs registry, user callbacks) are hooks in
``punie.train.callbacks``.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from punie.errors import ConfigError, DatasetError, PunieError
from punie.paths import atomic_write_text, check_output_folder
from punie.train.callbacks import (
    Callback,
    Hooks,
    MetricsFile,
    ProgressBar,
    RunsRegistry,
    TensorBoard,
    UserCallbacks,
)
from punie.train.callbacks import say as _say
from punie.train.config import TrainConfig

# Fields that may differ on --resume (they don't change what a step computes; the data fingerprint is checked).
RESUMABLE_CHANGES = {"data", "output", "iters", "patience", "eval_every", "save_every", "threads", "resume",
                     "overwrite", "eval_samples", "log_every"}


class TrainingError(PunieError):
    """Training diverged (NaN/inf) or could not continue."""


@dataclass
class TrainResult:
    output_dir: Path
    best_dir: Path | None
    last_dir: Path
    metrics: list[dict[str, Any]]
    best_metric: float | None  # tool-call accuracy of best/ (None when no valid split)
    best_val_loss: float | None = None
    best_step: int | None = None
    steps: int = 0
    stop_reason: str = "completed"  # completed | early_stop
    seconds: float = 0.0
    examples_per_s: float = 0.0
    tokens_per_s: float = 0.0
    supervised_share: float = 0.0
    resolved_dtype: str = "float32"  # what --dtype auto became on this machine
    time_budget_s: float = 0.0  # the config's time_budget (0: the steps were fixed)
    run_id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---- helpers -----------------------------------------------------------------------------------------
def _read_run_json(out: Path, name: str) -> dict[str, Any]:
    """A JSON object the run folder must hold on --resume (config.json, data_fingerprint.json)."""
    path = out / name
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"missing from the run folder; --resume needs the {name} the run wrote",
                          location=str(path), hint="start a new run with -o elsewhere") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"unreadable ({type(e).__name__}); --resume needs the {name} the run wrote",
                          location=str(path), hint="start a new run with -o elsewhere") from None
    if not isinstance(value, dict):
        raise ConfigError(f"not a JSON object; --resume needs the {name} the run wrote", location=str(path),
                          hint="start a new run with -o elsewhere")
    return value


def _prepare_output(cfg: TrainConfig, out: Path) -> dict[str, Any] | None:
    """Check OUT against --overwrite/--resume; returns the saved config on resume."""
    from punie.train.checkpoint import STATE_FILE, has_adapter

    check_output_folder(out, kind="run folder")
    if cfg.resume:
        if not (out / "checkpoint" / STATE_FILE).is_file():
            raise ConfigError(f"{out}: nothing to resume (no checkpoint/ in the run folder)", location="--resume")
        saved = _read_run_json(out, "config.json")
        for key, value in cfg.to_dict().items():
            if key not in RESUMABLE_CHANGES and key in saved and saved[key] != value:
                raise ConfigError(
                    f"--resume with a different {key} ({saved[key]!r} in the run, {value!r} now)",
                    location=f"--{key.replace('_', '-')}",
                    hint="resume with the run's settings, or start a new run",
                )
        return saved
    if out.exists() and has_adapter(out) and not cfg.overwrite:
        raise ConfigError(f"{out}: already holds an adapter", location="-o", hint="pass --overwrite or --resume")
    if out.exists() and cfg.overwrite:
        for name in ("best", "last", "checkpoint", "metrics.jsonl", "summary.json", "tensorboard",
                     "adapter_config.json", "adapter_model.safetensors", "punie_adapter.json"):
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    return None


def _lora_config(cfg: TrainConfig, model: Any) -> Any:
    from peft import LoraConfig

    n = int(model.config.num_hidden_layers)
    layers = list(range(n)) if cfg.num_layers == -1 else list(range(max(0, n - cfg.num_layers), n))
    targets = [t.strip() for t in cfg.target_modules.split(",") if t.strip()]
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise ConfigError(f"model has no module named {unknown[0]!r}", location="--target-modules")
    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,  # type: ignore[arg-type]  # peft annotates int; a float alpha works
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )


@dataclass
class BestTracker:
    """The best eval so far and how many evals since; saved in the checkpoint for --resume."""

    key: tuple[float, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    evals_since_best: int = 0

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BestTracker:
        key = tuple(state["best_key"]) if state.get("best_key") else None
        return cls(key, state.get("best_info") or {}, int(state.get("evals_since_best", 0)))  # type: ignore[arg-type]

    def state(self) -> dict[str, Any]:
        return {"best_key": list(self.key) if self.key else None, "best_info": self.info,
                "evals_since_best": self.evals_since_best}

    def update(self, erec: dict[str, Any]) -> bool:
        """True when ``erec`` is the new best (higher accuracy, ties to the lower validation loss)."""
        from punie.train.evaluate import score_key

        key = score_key(erec["tool_call_accuracy"], erec["val_loss"])
        if self.key is None or key > self.key:
            self.key, self.info, self.evals_since_best = key, {"step": erec["step"], **eval_info(erec)}, 0
            return True
        self.evals_since_best += 1
        return False

    def exhausted(self, patience: int) -> bool:
        return bool(patience) and self.evals_since_best >= patience


def eval_info(erec: dict[str, Any]) -> dict[str, Any]:
    """The scores of an eval record that adapters' punie_adapter.json keep."""
    keys = ("tool_call_accuracy", "val_loss", "call_turn_accuracy", "false_call_rate")
    return {k: erec[k] for k in keys if k in erec}


def _now() -> float:
    return time.perf_counter()


class StepBudget:
    """Fits the number of steps to ``time_budget`` seconds of training, never more than ``iters``.

    At the end of warmup (at least step 3), and again at a quarter, half and three quarters of the
    plan, the run measures its own seconds per step (the mean since step 1, which pays for warm-up
    allocations) and plans as many steps as the rest of the budget holds. Step times vary ~3x with
    the batches' lengths (session 8: one early estimate overshot a 442 s budget by 47 s), so the later
    checks correct the plan with more of the run behind them; each moves the end of the cosine
    schedule a little, never the steps already taken. The final eval comes on top of the budget.
    """

    FRACTIONS = (0.25, 0.5, 0.75)

    def __init__(self, seconds: float, cap: int, warmup: int) -> None:
        self.seconds, self.cap = seconds, cap
        self.check_at = max(3, warmup)
        self.t0 = _now()
        self.t1: float | None = None
        self.pending = list(self.FRACTIONS)

    def after(self, step: int, total: int) -> int | None:
        """Called after each step; a new step count at a check point, else None."""
        now = _now()
        if step == 1:
            self.t1 = now
        if step != self.check_at or self.t1 is None or step >= total:
            return None
        per_step = (now - self.t1) / (step - 1)
        planned = step + int(max(0.0, self.seconds - (now - self.t0)) / max(per_step, 1e-9))
        planned = max(step, min(self.cap, planned))
        while self.pending and int(planned * self.pending[0]) <= step:
            self.pending.pop(0)
        if self.pending:
            self.check_at = int(planned * self.pending.pop(0))
        return planned


class _Run:
    """One training run's state (data, model with LoRA, optimizer) and the step and eval that use it."""

    def __init__(self, cfg: TrainConfig, splits: dict[str, list[Any]], fp: dict[str, Any], *, resume: bool,
                 model: tuple[Any, Any] | None, talk: bool) -> None:
        import torch
        from accelerate import Accelerator

        from punie.models.precision import resolve_dtype

        self.cfg, self.out, self.splits = cfg, Path(cfg.output), splits
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        # bf16: autocast around forward passes; weights, LoRA, gradients and AdamW state stay fp32. Our own
        # context, not accelerate's mixed_precision: its process-wide state can't change between runs.
        self.compute = resolve_dtype(cfg.dtype, "cuda" if torch.cuda.is_available() else "cpu")
        self.acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="no")
        self.main = self.acc.is_main_process
        self.world, self.rank = self.acc.num_processes, self.acc.process_index
        self.talk = talk and self.main
        if resume:
            _check_fingerprint(cfg, self.out, fp)
        torch.manual_seed(cfg.seed)
        self._setup_data(model)
        self._setup_lora()
        self.best, self.start_step, self.total = BestTracker(), 0, cfg.iters
        if resume:
            self._resume()

    def _setup_data(self, model: tuple[Any, Any] | None) -> None:
        from punie.models import PromptBuilder
        from punie.models.loading import load_model
        from punie.train import data as tdata
        from punie.train.evaluate import eval_cases

        cfg = self.cfg
        self.base_model, self.tok = model or load_model(cfg.model, dtype="float32", device=str(self.acc.device))
        self.builder = PromptBuilder(self.tok)
        self.train_ex, self.train_stats = tdata.encode_all(self.splits["train"], self.builder,
                                                           max_seq_length=cfg.max_seq_length, drop=cfg.drop_long,
                                                           decision_weight=cfg.decision_weight)
        self.valid_ex, valid_stats = tdata.encode_all(self.splits["valid"], self.builder,
                                                      max_seq_length=cfg.max_seq_length, drop=cfg.drop_long)
        if not self.train_ex:
            raise DatasetError(f"{cfg.data}: no usable training conversations left")
        _say(self.talk, self.train_stats.line("train"))
        if self.splits["valid"]:
            _say(self.talk, valid_stats.line("valid"))
        self.stream = tdata.BatchStream(self.train_ex, cfg.batch_size, cfg.seed, min_size=self.world)
        self.cases = eval_cases(self.splits["valid"], cfg.eval_samples) if cfg.eval_samples else []

    def _setup_lora(self) -> None:
        """LoRA on the top blocks (seeded init), AdamW over the LoRA weights, warmup + cosine schedule."""
        import torch
        from peft import get_peft_model

        from punie.models.precision import describe_dtype
        from punie.train.loss import PrefixLoss

        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        self.model = get_peft_model(self.base_model, _lora_config(cfg, self.base_model))
        self.model.train()
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        n_train = sum(p.numel() for p in self.trainable)
        n_all = sum(p.numel() for p in self.model.parameters())
        _say(self.talk, f"LoRA r={cfg.lora_rank} on {cfg.num_layers if cfg.num_layers > 0 else 'all'} blocks: "
             f"{n_train:,} trainable of {n_all:,} parameters ({100 * n_train / n_all:.2f}%); "
             f"compute {describe_dtype(cfg.dtype, self.compute, self.acc.device)}")
        self.optimizer = torch.optim.AdamW(self.trainable, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_schedule(cfg.warmup, cfg.iters))
        self.wrapped = self.acc.prepare(PrefixLoss(self.model))

    def _resume(self) -> None:
        from punie.train import checkpoint as ckpt

        state = ckpt.load_checkpoint(self.out / "checkpoint", model=self.model, optimizer=self.optimizer,
                                     scheduler=self.scheduler)
        self.start_step = int(state["step"])
        self.best = BestTracker.from_state(state)
        if self.cfg.time_budget and state.get("total"):  # the plan the budget made, so the resume is exact
            self.set_total(min(self.cfg.iters, int(state["total"])))
        _say(self.talk, f"resuming {self.out} at step {self.start_step}")

    def set_total(self, total: int) -> None:
        """Size the run (and its cosine schedule) to ``total`` steps."""
        self.total = total
        self.scheduler.lr_lambdas = [lr_schedule(self.cfg.warmup, total) for _ in self.scheduler.lr_lambdas]

    def autocast(self) -> Any:
        import torch

        return torch.autocast(self.acc.device.type, dtype=torch.bfloat16, enabled=self.compute == torch.bfloat16)

    def step(self, step: int) -> dict[str, Any]:
        """One optimizer step over ``grad_accum`` micro-batches; returns the train record."""
        import torch

        from punie.train import data as tdata
        from punie.train.loss import batch_tensors

        cfg, acc, world = self.cfg, self.acc, self.world
        t0 = time.time()
        micro = [self.stream.indices((step - 1) * cfg.grad_accum + k) for k in range(cfg.grad_accum)]
        batches = [tdata.collate(self.train_ex, idx) for idx in micro]
        total_tokens = sum(b.n_tokens for b in batches)  # the global batch: known on every rank
        loss_sum = torch.zeros((), device=acc.device)
        for k, idx in enumerate(micro):
            mine = idx[self.rank :: world]
            weight = 1.0 if mine else 0.0  # a process without rows still joins the gradient sync
            local = tdata.collate(self.train_ex, mine or idx[:1])
            sync = contextlib.nullcontext() if k == len(micro) - 1 else acc.no_sync(self.wrapped)
            with sync:
                with self.autocast():
                    part = self.wrapped(**batch_tensors(local, acc.device)) * weight
                (part * world / max(1, total_tokens)).backward()
            loss_sum += part.detach()
        if world > 1:
            loss_sum = acc.reduce(loss_sum, reduction="sum")
        loss = float(loss_sum) / max(1, total_tokens)
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.trainable, max_norm))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingError(
                f"step {step}: loss is {loss} (grad norm {grad_norm}); stopped. "
                f"The last good checkpoint and adapter are in {self.out}",
                hint="lower --learning-rate or raise --warmup",
            )
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        dt = max(1e-9, time.time() - t0)
        self.seen_examples = sum(len(b.suffix_ids) for b in batches)
        self.seen_tokens = sum(b.n_seq_tokens for b in batches)
        return {
            "event": "train", "step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm,
            "examples_per_s": self.seen_examples / dt, "tokens_per_s": self.seen_tokens / dt,
            "epoch": round(self.stream.epoch_of(step * cfg.grad_accum), 4),
        }

    def evaluate(self, step: int) -> dict[str, Any]:
        """Validation loss (every rank) and generated tool-call accuracy (main rank, broadcast)."""
        import torch

        from punie.backends.base import DEFAULT_BATCH_SIZE
        from punie.models.precision import dtype_name
        from punie.train.evaluate import make_backend, tool_call_accuracy, validation_loss

        cfg, model = self.cfg, self.model
        t_eval = time.time()
        model.eval()
        try:
            with self.autocast():  # the precision training computes in
                vloss = validation_loss(model, self.valid_ex, cfg.batch_size, cfg.val_batches, self.acc.device)
            gen: dict[str, Any] = {"tool_call_accuracy": None}
            if self.cases and self.main:
                # all cases in one batch (up to DEFAULT_BATCH_SIZE rows): decode steps at 8 rows waste the CPU
                rows = max(8, cfg.batch_size, min(DEFAULT_BATCH_SIZE, len(self.cases)))
                with torch.no_grad(), self.autocast():
                    gen = tool_call_accuracy(make_backend(model, self.tok, self.builder, rows), self.cases,
                                             max_new_tokens=cfg.eval_max_new_tokens)
            if self.world > 1:
                from accelerate.utils import broadcast_object_list

                gen = broadcast_object_list([gen])[0]
        finally:
            model.train()
        return {"event": "eval", "step": step, "val_loss": vloss, **gen, "eval_s": round(time.time() - t_eval, 2),
                "resolved_dtype": dtype_name(self.compute)}

    # ---- the run folder's adapters and checkpoint (written by the main rank) ----
    def save_best(self) -> None:
        from punie.train import checkpoint as ckpt

        if self.main:
            ckpt.save_adapter(self.model, self.out / "best", {"base_model": self.cfg.model, **self.best.info})
            ckpt.publish_top_level(self.out / "best", self.out)

    def save_last(self, step: int, info: dict[str, Any]) -> None:
        from punie.train import checkpoint as ckpt

        if self.main:
            ckpt.save_adapter(self.model, self.out / "last", {"step": step, "base_model": self.cfg.model, **info})

    def save_state(self, step: int) -> None:
        from punie.train import checkpoint as ckpt

        if self.main:
            ckpt.save_checkpoint(self.out / "checkpoint", model=self.model, optimizer=self.optimizer,
                                 scheduler=self.scheduler,
                                 progress={"step": step, "total": self.total, **self.best.state()})
        self.acc.wait_for_everyone()

    def release(self) -> None:
        """Hand a caller's model back as it came: LoRA layers taken out, eval mode."""
        self.model.unload()
        self.base_model.eval()


def _check_fingerprint(cfg: TrainConfig, out: Path, fp: dict[str, Any]) -> None:
    old_fp = _read_run_json(out, "data_fingerprint.json")
    for split in ("train", "valid"):
        if old_fp.get(split) != fp.get(split):
            raise DatasetError(f"{cfg.data}: {split}.jsonl changed since the run started; --resume needs the same data")


def _write_run_files(cfg: TrainConfig, out: Path, fp: dict[str, Any], *, resume: bool) -> None:
    """config.json (the resolved settings) and, on a new run, the data fingerprint --resume checks."""
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.json", cfg.to_json())
        atomic_write_text(out / "data_fingerprint.json", json.dumps(fp, indent=2, sort_keys=True))
    else:
        atomic_write_text(out / "config.json", cfg.replace(resume=False).to_json())


def _hooks(run: _Run, fp: dict[str, Any], callbacks: Sequence[Callback], *, resume: bool) -> Hooks:
    """Metrics file, TensorBoard, progress bar, runs registry, then the caller's callbacks."""
    cfg = run.cfg
    every = {"log_every": cfg.log_every, "iters": cfg.iters}
    hooks: list[Any] = [MetricsFile(run.out, **every, resume_step=run.start_step if resume else None, enabled=run.main)]
    if run.main:
        hooks.append(TensorBoard(run.out, **every))
    if run.talk:
        hooks.append(ProgressBar(cfg.iters, run.start_step))
    hooks += [RunsRegistry(cfg.to_dict(), fp), UserCallbacks(callbacks)]
    return Hooks(hooks)


# ---- the run ------------------------------------------------------------------------------------------
def train(
    config: TrainConfig,
    *,
    callbacks: Sequence[Callback] | None = None,
    progress: bool = True,
    splits: dict[str, list[Any]] | None = None,
    model: tuple[Any, Any] | None = None,
) -> TrainResult:
    """Train a LoRA adapter per ``config``; the run folder is ``config.output``.

    ``splits``: the dataset already validated and read (``punie.train.data.load_splits``). ``model``: a
    ``(model, tokenizer)`` already loaded in float32 on the run's device; it is handed back without LoRA.
    """
    from punie.train import data as tdata

    # bad input fails fast, before the heavy imports: config, output folder, dataset
    cfg = config.validate()
    resume = _prepare_output(cfg, Path(cfg.output)) is not None
    splits = splits if splits is not None else tdata.load_splits(cfg.data)
    fp = tdata.fingerprint(cfg.data)
    run = _Run(cfg, splits, fp, resume=resume, model=model, talk=progress)
    if run.main:
        _write_run_files(cfg, run.out, fp, resume=resume)
    hooks = _hooks(run, fp, callbacks or [], resume=resume)
    clock = _Clock()
    budget = StepBudget(cfg.time_budget, cfg.iters, cfg.warmup) if cfg.time_budget and not resume else None
    stop_reason, last_eval_step, step = "completed", -1, run.start_step
    try:
        while step < run.total:
            step += 1
            rec = run.step(step)
            clock.add(run.seen_examples, run.seen_tokens)
            if budget and (planned := _agreed(run, budget.after(step, run.total))) is not None:
                run.set_total(planned)
                hooks.on_plan(planned, f"time budget {cfg.time_budget:.0f}s: {planned} steps")
            hooks.on_train(rec)
            is_eval = (cfg.eval_every and step % cfg.eval_every == 0) or step == run.total
            if is_eval:
                erec = run.evaluate(step)
                last_eval_step = step
                best = run.best.update(erec)
                if best:
                    run.save_best()
                run.save_last(step, eval_info(erec))
                hooks.on_eval(erec, best)
            if is_eval or (cfg.save_every and step % cfg.save_every == 0):
                run.save_state(step)
            hooks.on_step(rec)
            if is_eval and run.best.exhausted(cfg.patience):
                stop_reason = "early_stop"
                hooks.log(f"early stop: {cfg.patience} evals without improvement")
                break
    finally:
        hooks.close()
        if model is not None:
            run.release()

    if last_eval_step != step and step > run.start_step:
        run.save_last(step, {})
        run.save_state(step)
    run.acc.wait_for_everyone()
    result = _result(run, hooks.hooks[0].records, step, stop_reason, clock)
    if run.main:
        summary = {k: (str(v) if isinstance(v, Path) else v)
                   for k, v in result.__dict__.items() if k not in ("metrics", "extra")}
        atomic_write_text(run.out / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=str))
        hooks.on_end(result, summary)
    return result


def _agreed(run: _Run, planned: int | None) -> int | None:
    """Every process takes the main process's plan (their clocks differ a little)."""
    if run.world == 1:
        return planned
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([planned])[0]


class _Clock:
    """Wall time since the run's first step and the examples and tokens it trained on."""

    def __init__(self) -> None:
        self.t0, self.examples, self.tokens = time.time(), 0, 0

    def add(self, examples: int, tokens: int) -> None:
        self.examples += examples
        self.tokens += tokens


def _result(run: _Run, records: list[dict[str, Any]], step: int, stop_reason: str, clock: _Clock) -> TrainResult:
    from punie.models.precision import dtype_name

    out, info, seconds = run.out, run.best.info, time.time() - clock.t0
    return TrainResult(
        output_dir=out,
        best_dir=out / "best" if (out / "best").is_dir() else None,
        last_dir=out / "last",
        metrics=records,
        best_metric=info.get("tool_call_accuracy"),
        best_val_loss=info.get("val_loss"),
        best_step=info.get("step"),
        steps=step,
        stop_reason=stop_reason,
        seconds=seconds,
        examples_per_s=clock.examples / seconds if seconds else 0.0,
        tokens_per_s=clock.tokens / seconds if seconds else 0.0,
        supervised_share=run.train_stats.share,
        resolved_dtype=dtype_name(run.compute),
        time_budget_s=run.cfg.time_budget,
    )


def lr_schedule(warmup: int, total: int, floor: float = 0.1) -> Callable[[int], float]:
    """Linear warmup (the first step already moves), then cosine decay to ``floor`` x peak."""

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / (warmup + 1)
        span = max(1, total - warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / span)))

    return factor
