"""Fault injection for tests: a generator whose clips go numerically wrong on purpose.

Used through the CLI as ``--model.class_path faults.PoisonedGenerator`` with ``tests/helpers`` on
``PYTHONPATH``, so that failure isolation is tested on the user's entry point.
"""

from __future__ import annotations

from typing import Any

from samg_video.modules.video_generator import VideoGenerator


class _Poisoning:
    """The family, except that its step callback first turns the latents of ``rows`` into NaN at ``step``."""

    def __init__(self, family: Any, rows: list[int], step: int):
        self.family, self.rows, self.step = family, rows, step

    def __getattr__(self, name: str) -> Any:
        return getattr(self.family, name)

    def step_callback_arguments(self, observe: Any) -> dict[str, Any]:
        def poisoned(step: int, latents: Any) -> None:
            if step == self.step and self.rows:
                latents[self.rows] = float("nan")  # in place: the pipeline's own latents
            observe(step, latents)

        return self.family.step_callback_arguments(poisoned)


class PoisonedGenerator(VideoGenerator):
    """Clips whose prompt contains ``poison`` get NaN latents at sampling step index 1.

    For a family whose pipeline has no step callback (HunyuanVideo 1.5, one prompt per call), the
    denoiser's output of a call for a poisoned prompt is NaN from its second evaluation on instead.
    """

    def render(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        family = self.family
        self.family = _Poisoning(family, [i for i, item in enumerate(items) if "poison" in item["prompt"]], step=1)
        try:
            return super().render(items)
        finally:
            self.family = family

    def _render_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = self.family.max_prompts_per_call
        if self.family.step_callback_arguments(lambda *_: None) or (limit is not None and len(items) > limit):
            return super()._render_batch(items)  # poisoned by the step callback, or split into calls first
        if not any("poison" in item["prompt"] for item in items):
            return super()._render_batch(items)
        calls = 0

        def poisoned(module: Any, args: Any, output: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls > 1:
                prediction = output[0] if isinstance(output, tuple) else output.sample
                prediction.fill_(float("nan"))
            return output

        denoiser = getattr(self.pipeline, self.family.denoiser_attribute)
        handle = denoiser.register_forward_hook(poisoned)
        try:
            return super()._render_batch(items)
        finally:
            handle.remove()


class SlowGenerator(VideoGenerator):
    """Takes a second per batch after rendering it, so that a test can interrupt a run mid-way."""

    def render(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import time

        clips = super().render(items)
        time.sleep(1.0)
        return clips


class BrokenGenerator(VideoGenerator):
    """Fails outside any clip's rendering, as a bug would: the run stops."""

    def predict_step(self, batch: list[dict[str, Any]], batch_idx: int, dataloader_idx: int = 0) -> list[dict]:
        if batch_idx == 1:
            raise ZeroDivisionError("a bug in the second batch")
        return super().predict_step(batch, batch_idx, dataloader_idx)


class _BrokenPipeline:
    """The pipeline, except that calling it raises."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


class BrokenSetupGenerator(VideoGenerator):
    """Every pipeline call raises, as on a broken setup (not one bad clip)."""

    def load_pipeline(self) -> None:
        super().load_pipeline()
        self.pipeline = _BrokenPipeline(self.pipeline)


class _PickyPipeline:
    """The pipeline, except that a call whose prompts include one with ``explode`` raises, as a tokenizer
    or a text encoder may on a prompt it cannot take."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any("explode" in prompt for prompt in kwargs["prompt"]):
            raise ValueError("the text encoder cannot take this prompt")
        return self.pipeline(*args, **kwargs)


class PickyGenerator(VideoGenerator):
    """Pipeline calls fail for batches holding a prompt with ``explode``; the others render as usual."""

    def load_pipeline(self) -> None:
        super().load_pipeline()
        self.pipeline = _PickyPipeline(self.pipeline)
