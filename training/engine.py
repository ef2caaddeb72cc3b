"""The training loop every learner shares: seeded, on CPU or CUDA, one process or many.

Started by `torchrun --nproc_per_node=N` (or across machines with `--nnodes`), each process
trains on its share of every epoch's batches inside DistributedDataParallel (gloo on CPU, NCCL
on CUDA) and rank 0 alone evaluates, writes the report and registers the model.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.config import TrainSettings


class DeviceError(ValueError):
    """A device that this machine does not have."""


def resolve_device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("--device cuda: no CUDA device is visible on this machine "
                              "(torch.cuda.is_available() is False); use --device cpu")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    raise DeviceError(f"--device {name}: choose cpu or cuda")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: torch.device) -> Distributed:
        """Joins the process group when torchrun started this process."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return cls()
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), world_size)

    def wrap(self, network: nn.Module, device: torch.device) -> nn.Module:
        if self.world_size == 1:
            return network
        from torch.nn.parallel import DistributedDataParallel

        # find_unused_parameters: a learner may train one head of a two-headed network.
        return DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)

    def mean(self, value: float) -> float:
        if self.world_size == 1:
            return value
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def close(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()


def fit(network: nn.Module, loss_of: Callable[[nn.Module, dict[str, torch.Tensor],
                                               np.random.Generator], torch.Tensor],
        inputs: dict[str, torch.Tensor], settings: TrainSettings, seed: int,
        device: torch.device, distributed: Distributed,
        on_epoch: Callable[[int, float], dict[str, float | None]],
        on_step: Callable[[], None] = lambda: None) -> list[dict[str, float | None]]:
    """AdamW with a one-cycle schedule over seeded batches; `on_epoch(epoch, mean loss)`
    evaluates (rank 0) and returns what goes into the history."""
    network.to(device)
    model = distributed.wrap(network, device)
    steps_per_epoch = steps_per_epoch_of(len(inputs["label"]), settings.batch_size, distributed)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.lr,
                                  weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.epochs * steps_per_epoch)
    rng = np.random.default_rng(seed)  # the same on every rank: one shuffle, dealt out
    history = []
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = rng.permutation(len(inputs["label"]))
        losses = []
        for step in range(steps_per_epoch):
            batch = _batch(inputs, order, step, settings.batch_size, distributed, device)
            loss = loss_of(model, batch, rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            on_step()
        mean_loss = distributed.mean(float(np.mean(losses)))
        history.append({"epoch": epoch, "loss": round(mean_loss, 5), **on_epoch(epoch, mean_loss)})
    network.eval()
    return history


def steps_per_epoch_of(count: int, batch_size: int, distributed: Distributed) -> int:
    per_rank = -(-count // distributed.world_size)
    return max(1, -(-per_rank // batch_size))


def _batch(inputs: dict[str, torch.Tensor], order: np.ndarray, step: int, batch_size: int,
           distributed: Distributed, device: torch.device) -> dict[str, torch.Tensor]:
    mine = order[distributed.rank::distributed.world_size]
    chosen = mine[step * batch_size:(step + 1) * batch_size]
    if len(chosen) == 0:  # a rank with fewer rows repeats its first batch: steps stay in step
        chosen = mine[:batch_size]
    index = torch.from_numpy(np.asarray(chosen, dtype=np.int64))
    return {key: value[index].to(device) for key, value in inputs.items()}
