"""Generation backends: in-process transformers (batched, shared-prefix KV reuse) and OpenAI-compatible HTTP."""

from punie.backends.base import Backend, Generation, GenerationRequest

__all__ = ["Backend", "Generation", "GenerationRequest", "make_backend"]


def make_backend(model: str | None = None, *, adapter: str | None = None, base_url: str | None = None,  # type: ignore[no-untyped-def]
                 dtype: str = "auto", **kwargs):
    """Backend for a model name/path (+ adapter) in-process (weights in ``dtype``), or for ``base_url`` over HTTP."""
    if base_url:
        from punie.backends.openai_http import OpenAIHTTPBackend

        return OpenAIHTTPBackend(base_url, model=model, **kwargs)
    from punie.backends.inprocess import InProcessBackend

    return InProcessBackend.from_pretrained(model, adapter=adapter, dtype=dtype, **kwargs)
