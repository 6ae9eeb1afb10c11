"""Run by test_train_ddp.py, once plainly and once under `accelerate launch --num_processes 2 --cpu`."""

from __future__ import annotations

import sys

import torch

from punie.train import TrainConfig, train

if __name__ == "__main__":
    model, data, out = sys.argv[1:4]
    torch.set_num_threads(1)
    cfg = TrainConfig(
        model=model, data=data, output=out, iters=3, batch_size=4, grad_accum=2, eval_every=0, eval_samples=0,
        val_batches=1, num_layers=1, lora_rank=4, learning_rate=5e-3, warmup=0, patience=0,
    )
    train(cfg, progress=False)
