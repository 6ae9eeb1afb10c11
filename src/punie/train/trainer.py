"""``train(config)``: LoRA training with shared-prefix batches, generated-call evals, best/last, resume.

The loop reads top to bottom: plan the step's micro-batches, forward/backward each (loss summed over
supervised tokens, divided by the global batch's token count, so 1 or N processes give the same
gradient), clip, step, then — every ``eval_every`` steps — validation loss and tool-call accuracy,
best/last adapters, checkpoint and early stopping. Side concerns (progress bar, metrics file,
TensorBoard, user callbacks) are behind small helpers.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from punie.train.config import TrainConfig

# Fields that may differ on --resume (they don't change what a step computes; the data fingerprint is checked).
RESUMABLE_CHANGES = {"data", "output", "iters", "patience", "eval_every", "save_every", "threads", "resume", "overwrite", "eval_samples", "log_every"}


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
    run_id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


Callback = Callable[[str, dict[str, Any]], None]  # (event: "step" | "eval" | "end", record)


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


class _Metrics:
    """metrics.jsonl (+ TensorBoard when installed); on resume, lines past the checkpoint are dropped."""

    def __init__(self, out: Path, *, resume_step: int | None, enabled: bool) -> None:
        self.path = out / "metrics.jsonl"
        self.records: list[dict[str, Any]] = []
        self.enabled = enabled
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
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except Exception:  # tensorboard is optional
                self.tb = None

    def add(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, int | float) and k not in ("step", "event"):
                    self.tb.add_scalar(f"{rec['event']}/{k}", v, rec["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class _Progress:
    def __init__(self, enabled: bool, total: int, start: int) -> None:
        self.bar = None
        if not enabled:
            return
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

    def update(self, **fields: Any) -> None:
        if self.bar is not None:
            advance = fields.pop("advance", 0)
            self.bar.update(self.task, advance=advance, **fields)

    def log(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _say(enabled: bool, text: str) -> None:
    if enabled:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(text)


def _record_run(cfg: TrainConfig, result: TrainResult, fingerprint: dict[str, Any]) -> Any:
    try:
        from punie.runs import record_run  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        return record_run(
            kind="train",
            model=cfg.model,
            adapter=str(result.best_dir or result.last_dir),
            data_fingerprint=hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16],
            config={**cfg.to_dict(), "resolved_dtype": result.resolved_dtype},
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


# ---- the run ------------------------------------------------------------------------------------------
def train(
    config: TrainConfig, *, callbacks: Sequence[Callback] | None = None, progress: bool = True
) -> TrainResult:
    """Train a LoRA adapter per ``config``; the run folder is ``config.output``."""
    from punie.train import data as tdata

    # bad input fails fast, before the heavy imports: config, output folder, dataset
    cfg = config.validate()
    callbacks = list(callbacks or [])
    out = Path(cfg.output)
    saved_cfg = _prepare_output(cfg, out)
    splits = tdata.load_splits(cfg.data)
    fp = tdata.fingerprint(cfg.data)

    import torch
    from accelerate import Accelerator
    from peft import get_peft_model

    from punie.models import PromptBuilder
    from punie.models.loading import load_model
    from punie.models.precision import dtype_name, resolve_dtype
    from punie.train import checkpoint as ckpt
    from punie.train.evaluate import eval_cases, make_backend, score_key, tool_call_accuracy, validation_loss
    from punie.train.loss import PrefixLoss, batch_tensors

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # bf16: autocast around forward passes; weights, LoRA, gradients and AdamW state stay fp32. Our own
    # context, not accelerate's mixed_precision: its process-wide state can't change between runs.
    compute = resolve_dtype(cfg.dtype, "cuda" if torch.cuda.is_available() else "cpu")
    acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="no")

    def autocast() -> Any:
        return torch.autocast(acc.device.type, dtype=torch.bfloat16, enabled=compute == torch.bfloat16)

    main = acc.is_main_process
    world, rank = acc.num_processes, acc.process_index
    talk = progress and main
    if saved_cfg is not None:
        old_fp = _read_run_json(out, "data_fingerprint.json")
        for split in ("train", "valid"):
            if old_fp.get(split) != fp.get(split):
                raise DatasetError(f"{cfg.data}: {split}.jsonl changed since the run started; --resume needs the same data")

    torch.manual_seed(cfg.seed)
    model, tok = load_model(cfg.model, dtype="float32", device=str(acc.device))
    builder = PromptBuilder(tok)
    train_ex, train_stats = tdata.encode_all(splits["train"], builder, max_seq_length=cfg.max_seq_length, drop=cfg.drop_long)
    valid_ex, valid_stats = tdata.encode_all(splits["valid"], builder, max_seq_length=cfg.max_seq_length, drop=cfg.drop_long)
    if not train_ex:
        raise DatasetError(f"{cfg.data}: no usable training conversations left")
    _say(talk, train_stats.line("train"))
    if splits["valid"]:
        _say(talk, valid_stats.line("valid"))

    # model: LoRA on the top blocks, seeded init
    torch.manual_seed(cfg.seed)
    peft_model = get_peft_model(model, _lora_config(cfg, model))
    peft_model.train()
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    n_all = sum(p.numel() for p in peft_model.parameters())
    _say(talk, f"LoRA r={cfg.lora_rank} on {cfg.num_layers if cfg.num_layers > 0 else 'all'} blocks: "
         f"{n_train:,} trainable of {n_all:,} parameters ({100 * n_train / n_all:.2f}%); compute {dtype_name(compute)}")

    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule(cfg.warmup, cfg.iters))

    start_step = 0
    best_key: tuple[float, float] | None = None
    best_info: dict[str, Any] = {}
    evals_since_best = 0
    if saved_cfg is not None:
        state = ckpt.load_checkpoint(out / "checkpoint", model=peft_model, optimizer=optimizer, scheduler=scheduler)
        start_step = int(state["step"])
        best_key = tuple(state["best_key"]) if state.get("best_key") else None  # type: ignore[assignment]
        best_info = state.get("best_info") or {}
        evals_since_best = int(state.get("evals_since_best", 0))
        _say(talk, f"resuming {out} at step {start_step}")
    elif main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.json", cfg.to_json())
        atomic_write_text(out / "data_fingerprint.json", json.dumps(fp, indent=2, sort_keys=True))
    if saved_cfg is not None and main:
        atomic_write_text(out / "config.json", cfg.replace(resume=False).to_json())

    wrapped = acc.prepare(PrefixLoss(peft_model))
    stream = tdata.BatchStream(train_ex, cfg.batch_size, cfg.seed, min_size=world)
    metrics = _Metrics(out, resume_step=start_step if saved_cfg is not None else None, enabled=main)
    cases = eval_cases(splits["valid"], cfg.eval_samples) if cfg.eval_samples else []
    bar = _Progress(talk, cfg.iters, start_step)

    def emit(event: str, rec: dict[str, Any]) -> None:
        for cb in callbacks:
            cb(event, rec)

    def save_last(step: int, info: dict[str, Any]) -> None:
        if main:
            ckpt.save_adapter(peft_model, out / "last", {"step": step, "base_model": cfg.model, **info})

    def save_state(step: int) -> None:
        if main:
            ckpt.save_checkpoint(
                out / "checkpoint",
                model=peft_model,
                optimizer=optimizer,
                scheduler=scheduler,
                progress={
                    "step": step,
                    "best_key": list(best_key) if best_key else None,
                    "best_info": best_info,
                    "evals_since_best": evals_since_best,
                },
            )
        acc.wait_for_everyone()

    def evaluate(step: int) -> dict[str, Any]:
        t_eval = time.time()
        peft_model.eval()
        try:
            with autocast():  # the precision training computes in
                vloss = validation_loss(peft_model, valid_ex, cfg.batch_size, cfg.val_batches, acc.device)
            gen: dict[str, Any] = {"tool_call_accuracy": None}
            if cases and main:
                with torch.no_grad(), autocast():
                    gen = tool_call_accuracy(
                        # all cases in one batch (up to 48 rows): decode steps at 8 rows waste the CPU
                        make_backend(peft_model, tok, builder, max(8, cfg.batch_size, min(48, len(cases)))),
                        cases,
                        max_new_tokens=cfg.eval_max_new_tokens,
                    )
            if world > 1:
                from accelerate.utils import broadcast_object_list

                gen = broadcast_object_list([gen])[0]
        finally:
            peft_model.train()
        return {"event": "eval", "step": step, "val_loss": vloss, **gen, "eval_s": round(time.time() - t_eval, 2),
                "resolved_dtype": dtype_name(compute)}

    t_start = time.time()
    seen_examples = seen_tokens = 0
    stop_reason = "completed"
    last_eval_step = -1
    step = start_step
    try:
        for step in range(start_step + 1, cfg.iters + 1):
            t0 = time.time()
            micro = [stream.indices((step - 1) * cfg.grad_accum + k) for k in range(cfg.grad_accum)]
            batches = [tdata.collate(train_ex, idx) for idx in micro]
            total_tokens = sum(b.n_tokens for b in batches)  # the global batch: known on every rank
            loss_sum = torch.zeros((), device=acc.device)
            for k, idx in enumerate(micro):
                mine = idx[rank::world]
                weight = 1.0 if mine else 0.0  # a process without rows still joins the gradient sync
                local = tdata.collate(train_ex, mine or idx[:1])
                sync = contextlib.nullcontext() if k == len(micro) - 1 else acc.no_sync(wrapped)
                with sync:
                    with autocast():
                        part = wrapped(**batch_tensors(local, acc.device)) * weight
                    (part * world / max(1, total_tokens)).backward()
                loss_sum += part.detach()
            if world > 1:
                loss_sum = acc.reduce(loss_sum, reduction="sum")
            loss = float(loss_sum) / max(1, total_tokens)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf))
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                optimizer.zero_grad(set_to_none=True)
                raise TrainingError(
                    f"step {step}: loss is {loss} (grad norm {grad_norm}); stopped. "
                    f"The last good checkpoint and adapter are in {out}",
                    hint="lower --learning-rate or raise --warmup",
                )
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            dt = max(1e-9, time.time() - t0)
            n_ex = sum(len(b.suffix_ids) for b in batches)
            n_tok = sum(b.n_seq_tokens for b in batches)
            seen_examples += n_ex
            seen_tokens += n_tok
            rec = {
                "event": "train", "step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm,
                "examples_per_s": n_ex / dt, "tokens_per_s": n_tok / dt,
                "epoch": round(stream.epoch_of(step * cfg.grad_accum), 4),
            }
            if step % cfg.log_every == 0 or step == cfg.iters:
                metrics.add(rec)
            bar.update(advance=1, loss=f"{loss:.4f}", tps=f"{n_tok / dt:,.0f}")

            is_eval = (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.iters
            if is_eval:
                erec = evaluate(step)
                last_eval_step = step
                metrics.add(erec)
                key = score_key(erec["tool_call_accuracy"], erec["val_loss"])
                info: dict[str, Any] = {k: erec[k] for k in ("tool_call_accuracy", "val_loss", "call_turn_accuracy", "false_call_rate") if k in erec}
                if best_key is None or key > best_key:
                    best_key, best_info, evals_since_best = key, {"step": step, **info}, 0
                    if main:
                        ckpt.save_adapter(peft_model, out / "best", {"base_model": cfg.model, **best_info})
                        ckpt.publish_top_level(out / "best", out)
                else:
                    evals_since_best += 1
                save_last(step, info)
                acc_text = "-" if erec["tool_call_accuracy"] is None else f"{100 * erec['tool_call_accuracy']:.1f}%"
                vl = "-" if erec["val_loss"] is None else f"{erec['val_loss']:.4f}"
                bar.update(acc=f"calls {acc_text}")
                bar.log(f"step {step}: val loss {vl}, tool-call accuracy {acc_text}"
                        f"{' (best)' if evals_since_best == 0 else ''}")
                emit("eval", erec)
            if is_eval or (cfg.save_every and step % cfg.save_every == 0):
                save_state(step)
            emit("step", rec)
            if is_eval and cfg.patience and evals_since_best >= cfg.patience:
                stop_reason = "early_stop"
                bar.log(f"early stop: {cfg.patience} evals without improvement")
                break
    finally:
        bar.stop()
        metrics.close()

    if last_eval_step != step and step > start_step:
        save_last(step, {})
        save_state(step)
    acc.wait_for_everyone()
    seconds = time.time() - t_start
    best_dir = out / "best" if (out / "best").is_dir() else None
    result = TrainResult(
        output_dir=out,
        best_dir=best_dir,
        last_dir=out / "last",
        metrics=metrics.records,
        best_metric=best_info.get("tool_call_accuracy"),
        best_val_loss=best_info.get("val_loss"),
        best_step=best_info.get("step"),
        steps=step,
        stop_reason=stop_reason,
        seconds=seconds,
        examples_per_s=seen_examples / seconds if seconds else 0.0,
        tokens_per_s=seen_tokens / seconds if seconds else 0.0,
        supervised_share=train_stats.share,
        resolved_dtype=dtype_name(compute),
    )
    if main:
        summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in result.__dict__.items() if k not in ("metrics", "extra")}
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=str))
        result.run_id = _record_run(cfg, result, fp)
        emit("end", summary)
        _say(talk, f"done: {step} steps in {seconds:.0f}s ({result.examples_per_s:.2f} examples/s); "
             f"best tool-call accuracy {_pct(result.best_metric)} at step {result.best_step}; adapter in {best_dir or out / 'last'}")
    return result


def lr_schedule(warmup: int, total: int, floor: float = 0.1) -> Callable[[int], float]:
    """Linear warmup (the first step already moves), then cosine decay to ``floor`` x peak."""

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / (warmup + 1)
        span = max(1, total - warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / span)))

    return factor


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
