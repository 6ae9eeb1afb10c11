"""Which LoRA adapter the in-process backend generates with, and whether it is folded in.

Two ways to fold (merge) an adapter into the base weights, so a decode step costs what the base
costs (unmerged LoRA adds two small matmuls per adapted linear per step):

- ``merged()``: for one block (or one call, with the backend's ``merge_adapter``); the base weights
  are restored bit-exactly on exit (``punie.models.loading.merged_adapter``).
- ``keep``: fold the active adapter in at the first call that uses it and leave it folded while
  calls use the same adapter; asking for another adapter (or the base) restores the base first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any


class Adapters:
    def __init__(self, model: Any, lock: threading.RLock) -> None:
        self.model = model
        self.lock = lock
        self.active: str | None = getattr(model, "active_adapter", None) if hasattr(model, "peft_config") else None
        self.folded = False  # the active adapter is merged into the weights now
        self._kept: tuple[str, ExitStack] | None = None  # (adapter, its open merged_adapter context)

    @contextmanager
    def use(self, name: str | None, *, keep: bool) -> Iterator[None]:
        """Generate with adapter ``name`` (a loaded PEFT adapter) or the bare base model (None)."""
        with self.lock:
            if not hasattr(self.model, "peft_config"):
                if name is not None:
                    raise KeyError(name)
                yield
                return
            if self._kept is not None and self._kept[0] != name:
                self.unmerge()  # another adapter (or the base) needs the base weights back
            if name is not None and name == self.active and name in self.model.peft_config:
                # already active: no set_adapter (PEFT would unmerge a kept merge inexactly)
                yield
                return
            if self.folded:
                raise RuntimeError("can't switch adapters while one is merged (inside backend.merged())")
            previous = self.active
            if name is None:
                with self.model.disable_adapter():
                    self.active = None
                    try:
                        yield
                    finally:
                        self.active = previous
                return
            if name not in self.model.peft_config:
                raise KeyError(name)
            self.model.set_adapter(name)
            self.active = name
            try:
                yield
            finally:
                if not keep:  # keep: the adapter stays active (and folded in) for the next call
                    if previous is not None:
                        self.model.set_adapter(previous)
                    self.active = previous

    @contextmanager
    def merged(self) -> Iterator[None]:
        """The active adapter folded in inside this block; a no-op without one or when already folded."""
        with self.lock:
            if self.folded or self.active is None:
                yield
                return
            from punie.models.loading import merged_adapter

            with merged_adapter(self.model):
                self.folded = True
                try:
                    yield
                finally:
                    self.folded = False

    def for_call(self, *, merge: bool, keep: bool) -> AbstractContextManager[None]:
        """What one generate/stream call runs under: kept folded, folded for the call, or as it is."""
        if keep:
            self._keep_now()
            return nullcontext()
        return self.merged() if merge else nullcontext()

    def _keep_now(self) -> None:
        """Fold the active adapter in and leave it folded."""
        name = self.active
        if name is None or self._kept is not None and self._kept[0] == name:
            return
        if self.folded:  # inside an explicit ``merged()`` block: nothing to keep
            return
        from punie.models.loading import merged_adapter

        stack = ExitStack()
        stack.enter_context(merged_adapter(self.model))
        self._kept = (name, stack)
        self.folded = True

    def unmerge(self) -> None:
        """Restore the base weights if an adapter was kept folded in (bit-exactly)."""
        with self.lock:
            if self._kept is None:
                return
            _, stack = self._kept
            self._kept = None
            self.folded = False
            stack.close()
