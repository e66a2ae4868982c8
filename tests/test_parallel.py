"""One clip on several ranks (CFG-parallel over two gloo CPU ranks), cached guidance, and the options'
errors: the same clips as one rank, exactly once, resumed, a failure isolated."""

import json

import pytest
import torch
import torch.multiprocessing as mp
from cli_runs import FAST, TWO_CPU_RANKS, lines_of, run, run_here

from datamodules.prompts import PromptDataModule
from samg_video import CFG, SAMG, apply_guidance
from samg_video.families import get_family
from samg_video.files.media import read_video
from samg_video.guidance.base import Guidance
from samg_video.parallel.branches import disable_branch_hook, enable_branch_hook

PROMPTS = ["a cat", "a dog", "a bird"]
STEPS = 6


def tiny(family: str = "cogvideox"):
    f = get_family(family)
    return f, f.with_scheduler(f.build_tiny(seed=0), f.schedulers[0])


def latents(family, pipeline, prompts=("a cat", "a dog"), steps=STEPS):
    size = family.tiny_size
    output = pipeline(prompt=list(prompts), height=size["height"], width=size["width"],
                      **family.size_arguments(size["num_frames"]), num_inference_steps=steps,
                      **family.guidance_arguments(), generator=[torch.Generator().manual_seed(i) for i in range(len(prompts))],
                      output_type="latent", **family.call_arguments(pipeline))
    return output.frames if hasattr(output, "frames") else output.images


class DeltaSpy(Guidance):
    """CFG at 3 that records the delta it is given at each step."""

    def __init__(self):
        super().__init__()
        self.deltas = []

    def combine(self, uncond, cond, layout, step):
        self.deltas.append((cond - uncond).clone())
        return uncond + 3.0 * (cond - uncond)

    def describe(self):
        return {"name": "DeltaSpy"}


@pytest.mark.parametrize("name", ["cogvideox", "modelscope", "ltx"])
def test_cached_guidance_reuses_the_last_delta_and_skips_the_unconditional_rows(name):
    family, pipeline = tiny(name)
    apply_guidance(pipeline, SAMG(2.0, 6.0, temporal_sigma=1.0))
    reference = latents(family, pipeline)
    hook = enable_branch_hook(pipeline, cache_interval=1)
    assert torch.equal(latents(family, pipeline), reference) and hook.rows_computed == 2 * 2 * STEPS
    hook = enable_branch_hook(pipeline, cache_interval=2)
    cached = latents(family, pipeline)
    # steps 1, 3, 5 of 6 run the conditional branch alone: 2 rows instead of 4
    assert hook.rows_computed == 4 * 3 + 2 * 3 and hook.calls == STEPS
    assert not torch.equal(cached, reference)
    # a window that holds no step caches nothing
    hook = enable_branch_hook(pipeline, cache_interval=2, cache_window=(0.95, 1.0))
    assert torch.equal(latents(family, pipeline), reference) and hook.rows_computed == 4 * STEPS
    disable_branch_hook(pipeline)
    assert torch.equal(latents(family, pipeline), reference)


def test_a_cached_step_combines_from_the_last_computed_delta():
    family, pipeline = tiny()
    spy = DeltaSpy()
    apply_guidance(pipeline, spy)
    enable_branch_hook(pipeline, cache_interval=3, cache_window=(0.0, 1.0))
    latents(family, pipeline)
    deltas = spy.deltas
    assert len(deltas) == STEPS
    for step in (1, 2, 4, 5):  # cached: the delta of the step that computed both branches last (0 or 3)
        assert torch.allclose(deltas[step], deltas[3 * (step // 3)], atol=1e-6, rtol=0)
    assert not torch.allclose(deltas[3], deltas[0])


PAIR_FAMILIES = ("cogvideox", "modelscope", "ltx")  # every video family that batches the two branches


def _pair_rank(rank: int, store: str, queue) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        pair = torch.distributed.new_group([0, 1])
        for name in PAIR_FAMILIES:
            family, pipeline = tiny(name)
            apply_guidance(pipeline, SAMG(2.0, 6.0, temporal_sigma=1.0))
            hook = enable_branch_hook(pipeline, pair=pair)
            queue.put((name, rank, latents(family, pipeline).numpy(), hook.rows_computed))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_a_cfg_parallel_pair_computes_one_branch_each_and_gets_the_clip_of_one_rank(tmp_path):
    references = {}
    for name in PAIR_FAMILIES:
        family, pipeline = tiny(name)
        apply_guidance(pipeline, SAMG(2.0, 6.0, temporal_sigma=1.0))
        references[name] = latents(family, pipeline).numpy()
    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_pair_rank, args=(rank, str(tmp_path / "store"), queue)) for rank in range(2)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=180) for _ in range(2 * len(PAIR_FAMILIES))]
    for process in processes:
        process.join(timeout=60)
    for name, rank, pair_latents, rows in results:
        assert rows == 2 * STEPS, name  # each rank computed one branch of the two clips: half the rows
        # float32 tolerance: a half batch is summed in another order (seen: 3.4e-5 on latents of size 60)
        reference = references[name]
        assert abs(pair_latents - reference).max() <= 1e-5 * abs(reference).max(), (name, rank)
    for name in PAIR_FAMILIES:
        first, second = (latents for n, _, latents, _ in results if n == name)
        assert (first == second).all(), name  # both ranks hold the same latents


def lossless(tmp_path, temporal_sigma="1.0"):
    import yaml
    from cli_runs import TINY_CONFIG

    config = yaml.safe_load(TINY_CONFIG.read_text())
    for callback in config["trainer"]["callbacks"]:
        if callback["class_path"].endswith("ClipWriter"):
            callback["init_args"]["lossless"] = True
    config["model"]["init_args"]["guidance"]["init_args"]["temporal_sigma"] = float(temporal_sigma)
    path = tmp_path / "lossless.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def render_one_and_pair(workdir, tmp_path, name, extra=(), broken=()):
    """The three prompts rendered on one rank, then by a CFG-parallel pair of gloo ranks into a folder where the
    clips of ``broken`` cannot be written (the run then fails, for those alone): the arguments, the clip ids and
    both output folders."""
    config = lossless(tmp_path)
    args = ["predict", "-c", config, "--data.prompts", f"[{', '.join(PROMPTS)}]", "--data.batch_size", "2", *FAST,
            *extra]
    ids = {item["prompt"]: item["id"] for item in PromptDataModule(PROMPTS).items}
    one, pair = tmp_path / f"one_{name}", tmp_path / f"pair_{name}"
    assert run_here(args + ["--output_dir", one], cwd=workdir).returncode == 0
    pair.mkdir()
    for prompt in broken:
        (pair / f"{ids[prompt]}.mp4").mkdir()  # this clip cannot be written: it fails, alone
    result = run(args + ["--output_dir", pair, "--model.cfg_parallel", "2", *TWO_CPU_RANKS], cwd=workdir, timeout=200)
    assert result.returncode == (1 if broken else 0), result.stderr[-3000:]
    if broken:
        assert result.stderr.count(f"samg-video: {len(broken)} of {len(PROMPTS)} clips failed") == 1
        assert [line["id"] for line in lines_of(pair / "failures.jsonl")] == [ids[prompt] for prompt in broken]
    kept = [prompt for prompt in PROMPTS if prompt not in broken]
    # each clip written once, by the pair's first rank, and scored once
    assert sorted(line["id"] for line in lines_of(pair / "metrics.jsonl")) == sorted(ids[p] for p in kept)
    for prompt in kept:
        video = f"{ids[prompt]}.mp4"
        difference = (read_video(one / video).astype(int) - read_video(pair / video).astype(int)).__abs__().max()
        assert difference <= 1, (name, prompt, difference)  # float tolerance, then rounding to 8 bits
    return args, ids, one, pair


@pytest.mark.slow
def test_two_gloo_ranks_in_cfg_parallel_render_the_clips_of_one_rank_once_resume_and_isolate_a_failure(
        workdir, tmp_path):
    args, ids, one, pair = render_one_and_pair(workdir, tmp_path, "samg", broken=["a bird"])

    # the failed clip's path freed: a re-run renders only it, in the pair, and resumes the rest
    (pair / f"{ids['a bird']}.mp4").rmdir()
    result = run(args + ["--output_dir", pair, "--model.cfg_parallel", "2", *TWO_CPU_RANKS], cwd=workdir, timeout=200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming: 2 of 3 clips are complete" in result.stderr + result.stdout
    summary = json.loads((pair / "summary.json").read_text())
    assert summary["clips"] == 3 and summary["failures"] == 0
    difference = abs(read_video(one / f"{ids['a bird']}.mp4").astype(int)
                     - read_video(pair / f"{ids['a bird']}.mp4").astype(int)).max()
    assert difference <= 1


@pytest.mark.slow
def test_another_guidance_in_cfg_parallel_on_two_gloo_ranks_renders_the_clips_of_one_rank(workdir, tmp_path):
    zero_star = ["--model.guidance", "samg_video.guidance.CFGZeroStar", "--model.guidance.init_args.scale", "4"]
    render_one_and_pair(workdir, tmp_path, "zero_star", extra=zero_star)


@pytest.mark.slow
def test_parallel_options_that_cannot_run_are_refused_in_one_line_before_weights_load(workdir, tmp_path):
    from cli_runs import TINY_CONFIG

    base = ["predict", "-c", TINY_CONFIG, "--data.prompts", "[a cat]", *FAST, "--output_dir", tmp_path / "out"]
    cases = [
        (["--model.cfg_parallel", "3"], "model.cfg_parallel=3 is not valid; choose 1 (off) or 2"),
        (["--model.cfg_parallel", "2"], "model.cfg_parallel=2 needs a number of ranks (trainer.devices x "
                                        "trainer.num_nodes) that is a multiple of 2; this run has 1"),
        (["--model.family", "wan", "--model.scheduler", "unipc", "--model.cfg_parallel", "2"],
         "model.cfg_parallel needs a pipeline that computes both branches in one denoiser call; wan's calls its "
         "denoiser once per branch"),
        (["--model.context_parallel", "2"], "model.context_parallel needs a transformer that diffusers can split "
                                            "by sequence; cogvideox's cannot. It works for: ltx, wan (on CUDA GPUs)"),
        (["--model.family", "ltx", "--model.scheduler", "flow_euler", "--model.context_parallel", "2", *TWO_CPU_RANKS],
         "model.context_parallel needs CUDA GPUs (trainer.accelerator: gpu, one rank per GPU); this run's ranks "
         "are on cpu"),
        (["--model.guidance_cache_interval", "0"], "model.guidance_cache_interval=0 is not valid"),
        (["--model.guidance_cache_window", "[0.8, 0.2]"], "model.guidance_cache_window=[0.8, 0.2] is not valid"),
        (["--model.cfg_parallel", "2", "--model.guidance_cache_interval", "2"], "cannot be combined"),
    ]
    for extra, message in cases:
        distributed = "--trainer.devices" in extra
        result = (run if distributed else run_here)(base + extra, cwd=workdir)
        assert result.returncode == 2, (extra, result.stderr[-2000:])
        assert message in result.stderr, (extra, result.stderr[-2000:])
        assert not (tmp_path / "out").exists(), extra  # refused before the output folder is made


def test_cached_guidance_through_the_cli_records_its_setting_and_renders_other_clips(workdir, tmp_path):
    from cli_runs import TINY_CONFIG

    args = ["predict", "-c", TINY_CONFIG, "--data.prompts", "[a cat]", "--model.num_inference_steps", "4"]
    assert run_here(args + ["--output_dir", tmp_path / "plain"], cwd=workdir).returncode == 0
    cached = args + ["--output_dir", tmp_path / "cached", "--model.guidance_cache_interval", "2"]
    assert run_here(cached, cwd=workdir).returncode == 0
    (clip,) = (tmp_path / "cached").glob("a-cat-*.json")
    model = json.loads(clip.read_text())["model"]
    assert model["guidance_cache_interval"] == 2 and model["guidance_cache_window"] == [0.0, 1.0]
    plain = json.loads(next((tmp_path / "plain").glob("a-cat-*.json")).read_text())["model"]
    assert "guidance_cache_interval" not in plain  # the uncached clip's settings are what they always were
    video = clip.with_suffix(".mp4").name
    assert (read_video(tmp_path / "plain" / video) != read_video(tmp_path / "cached" / video)).any()
