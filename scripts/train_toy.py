"""Train the toy CogVideoX on the synthetic world and save it as a diffusers pipeline (safetensors).

    python scripts/train_toy.py -c configs/training/toy_cogvideox.yaml [--stages vae transformer] [--output_dir DIR]

Stage ``vae`` trains the 3D VAE and saves it to ``<log_dir>/vae_model``; ``vae_refine`` goes on with the
object's pixels weighted up and an L1 term (sharper edges); stage ``transformer`` loads that VAE,
sets its latent scaling factor, trains the transformer (and the text encoder with it, when
``transformer.train_text_encoder``) and writes the whole pipeline to ``output_dir`` with
``save_pretrained``. After the VAE's refinement, the world metrics of its reconstructions of
``ceiling_clips`` clips of the world are written to ``<log_dir>/vae_ceiling.json``: what no generated clip
can beat. Each stage shows a progress bar and logs its loss to ``<log_dir>/<stage>/`` (CSV); the curves
are drawn to ``<log_dir>/training_curves.png``. Reproducible from ``seed``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

STAGES = ("vae", "vae_refine", "transformer", "transformer_more")
REQUIRED = {"seed": int, "output_dir": str, "log_dir": str, "ceiling_clips": int,
            "vae": {"steps": int, "batch_size": int, "learning_rate": float, "kl_weight": float},
            "vae_refine": {"steps": int, "batch_size": int, "learning_rate": float, "object_weight": float,
                           "l1_weight": float},
            "transformer": {"steps": int, "batch_size": int, "learning_rate": float, "warmup_steps": int,
                            "ema_decay": float, "empty_prompt_fraction": float, "caption_noise": float, "binding_noise": float, "pool_size": int,
                            "train_text_encoder": bool},
            "transformer_more": {"steps": int, "learning_rate": float}}


KIND_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def read_config(path: str) -> dict:
    """The training config, every field checked before anything is built."""
    if not Path(path).is_file():
        raise SystemExit(f"train_toy: error: config {path!r} does not exist")
    config = OmegaConf.to_container(OmegaConf.load(path))

    def check(section: dict, spec: dict, where: str) -> None:
        if not isinstance(section, dict):
            raise SystemExit(f"train_toy: error: {path}: {where.rstrip('.') or 'the file'} must be a mapping of "
                             f"{', '.join(spec)}")
        unknown = set(section) - set(spec)
        if unknown:
            raise SystemExit(f"train_toy: error: {path}: unknown field(s) {', '.join(sorted(where + k for k in unknown))}; "
                             f"valid: {', '.join(where + k for k in spec)}")
        for key, kind in spec.items():
            if key not in section:
                raise SystemExit(f"train_toy: error: {path}: {where}{key} is missing")
            if isinstance(kind, dict):
                check(section[key], kind, f"{where}{key}.")
            elif (not isinstance(section[key], (int, float) if kind is float else kind)
                  or (kind is not bool and isinstance(section[key], bool))):
                raise SystemExit(f"train_toy: error: {path}: {where}{key}={section[key]!r} must be "
                                 f"{KIND_NAMES[kind]}")
            elif kind in (int, float) and section[key] < 0:
                raise SystemExit(f"train_toy: error: {path}: {where}{key}={section[key]!r} must be >= 0")

    check(config, REQUIRED, "")
    transformer = config["transformer"]  # two probabilities; >= 0 is checked above
    if transformer["empty_prompt_fraction"] >= 1:  # all prompts empty: nothing conditional to learn
        raise SystemExit(f"train_toy: error: {path}: transformer.empty_prompt_fraction="
                         f"{transformer['empty_prompt_fraction']!r} must be in [0, 1)")
    for name in ("caption_noise", "binding_noise"):
        if transformer[name] > 1:
            raise SystemExit(f"train_toy: error: {path}: transformer.{name}={transformer[name]!r} must be in [0, 1]")
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--output_dir", help="overrides the config's output_dir")
    args = parser.parse_args(argv)
    config = read_config(args.config)
    output_dir = Path(args.output_dir or config["output_dir"])
    log_dir = Path(config["log_dir"])
    log_dir.mkdir(parents=True, exist_ok=True)

    import lightning as L
    from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader

    from datamodules.world import WorldDataModule
    from samg_video.families.cogvideox import TOY_TEXT_TOKENS, CogVideoXFamily
    from samg_video.modules.toy_training import (
        TransformerTraining,
        VAETraining,
        encode_latent_pool,
        latent_scaling_factor,
        reconstruction_ceiling,
    )
    from samg_video.world.scenes import VOCABULARY

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    started = time.monotonic()
    L.seed_everything(config["seed"], verbose=False)
    pipeline = CogVideoXFamily().build_toy_untrained(VOCABULARY, seed=config["seed"])
    vae_dir = log_dir / "vae_model"

    def trained_vae(directory: Path) -> AutoencoderKLCogVideoX:
        if not (directory / "config.json").is_file():
            raise SystemExit(f"train_toy: error: no trained VAE in {directory}; run the vae stage first")
        return AutoencoderKLCogVideoX.from_pretrained(directory)

    def trainer(stage: str, steps: int) -> L.Trainer:
        return L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=CSVLogger(log_dir, name=stage, version=0),
                         enable_checkpointing=False, log_every_n_steps=max(1, min(25, steps // 10)),
                         enable_model_summary=False)

    def latent_pool(seed: int) -> DataLoader:
        # clips of the stream encoded once, with their (noisy) captions: the module drops some at each step
        options = config["transformer"]
        clips = WorldDataModule(64, seed=seed, empty_prompt_fraction=0.0, caption_noise=options["caption_noise"],
                                binding_noise=options["binding_noise"]).train_dataloader()
        pool = encode_latent_pool(pipeline.vae, clips, options["pool_size"])
        return DataLoader(pool, batch_size=options["batch_size"], shuffle=True, drop_last=True)

    if "vae" in args.stages:
        L.seed_everything(config["seed"], verbose=False)  # each stage seeded: run apart, stages give what one run gives
        options = config["vae"]
        data = WorldDataModule(options["batch_size"], seed=config["seed"], empty_prompt_fraction=0.0)
        trainer("vae", options["steps"]).fit(VAETraining(pipeline.vae, options["learning_rate"], options["kl_weight"]),
                                              datamodule=data)
        pipeline.vae.save_pretrained(vae_dir)
        print(f"train_toy: VAE trained in {time.monotonic() - started:.0f} s, saved to {vae_dir}", flush=True)
    if "vae_refine" in args.stages:
        L.seed_everything(config["seed"] + 1, verbose=False)
        pipeline.vae = trained_vae(vae_dir)
        options = config["vae_refine"]
        data = WorldDataModule(options["batch_size"], seed=config["seed"] + 3, empty_prompt_fraction=0.0)
        refine = VAETraining(pipeline.vae, options["learning_rate"], config["vae"]["kl_weight"],
                             options["object_weight"], options["l1_weight"])
        trainer("vae_refine", options["steps"]).fit(refine, datamodule=data)
        pipeline.vae.save_pretrained(vae_dir)
        print(f"train_toy: VAE refined at {time.monotonic() - started:.0f} s, saved to {vae_dir}", flush=True)
        ceiling = reconstruction_ceiling(pipeline.vae, config["ceiling_clips"], config["seed"] + 5)
        (log_dir / "vae_ceiling.json").write_text(json.dumps(ceiling, indent=1) + "\n")
        print("train_toy: the VAE's reconstructions, scored as clips (the ceiling of any generated clip): "
              + ", ".join(f"{name} {value:.3f}" for name, value in ceiling.items())
              + f"; in {log_dir / 'vae_ceiling.json'}", flush=True)
    if "transformer" in args.stages:
        L.seed_everything(config["seed"] + 2, verbose=False)
        pipeline.vae = trained_vae(vae_dir)
        calibration = next(iter(WorldDataModule(256, seed=config["seed"] + 1).train_dataloader()))["video"]
        pipeline.vae.register_to_config(scaling_factor=latent_scaling_factor(pipeline.vae, calibration))
        options = config["transformer"]
        data = latent_pool(config["seed"] + 2)
        module = TransformerTraining(pipeline, options["learning_rate"], options["warmup_steps"], options["ema_decay"],
                                     options["empty_prompt_fraction"], max_sequence_length=TOY_TEXT_TOKENS,
                                     train_text_encoder=options["train_text_encoder"])
        trainer("transformer", options["steps"]).fit(module, train_dataloaders=data)
        pipeline.save_pretrained(output_dir, safe_serialization=True)
        print(f"train_toy: pipeline saved to {output_dir}", flush=True)
    if "transformer_more" in args.stages and config["transformer_more"]["steps"] == 0:
        print("train_toy: transformer_more skipped (steps: 0)", flush=True)
    elif "transformer_more" in args.stages:
        # more steps from the saved pipeline at a lower rate, the average restarted from its weights
        L.seed_everything(config["seed"] + 3, verbose=False)
        if not (output_dir / "model_index.json").is_file():
            raise SystemExit(f"train_toy: error: no trained pipeline in {output_dir}; run the transformer stage first")
        pipeline = CogVideoXPipeline.from_pretrained(output_dir)
        options, more = config["transformer"], config["transformer_more"]
        data = latent_pool(config["seed"] + 4)
        module = TransformerTraining(pipeline, more["learning_rate"], 1, options["ema_decay"],
                                     options["empty_prompt_fraction"], max_sequence_length=TOY_TEXT_TOKENS,
                                     train_text_encoder=options["train_text_encoder"])
        trainer("transformer_more", more["steps"]).fit(module, train_dataloaders=data)
        pipeline.save_pretrained(output_dir, safe_serialization=True)
        print(f"train_toy: pipeline trained further and saved to {output_dir}", flush=True)
    plot_curves(log_dir)
    print(f"train_toy: done in {time.monotonic() - started:.0f} s; loss curves in {log_dir / 'training_curves.png'}")


def plot_curves(log_dir: Path) -> None:
    """Each stage's loss against its step, from the CSV logs, smoothed over 20 logged points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    stages = [(stage, log_dir / stage / "version_0" / "metrics.csv") for stage in STAGES]
    stages = [(stage, path) for stage, path in stages if path.is_file()]
    if not stages:
        return
    figure, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.5), squeeze=False)
    for axis, (stage, path) in zip(axes[0], stages):
        column = "transformer/loss" if stage.startswith("transformer") else "vae/mse"
        with path.open(newline="") as file:
            rows = [row for row in csv.DictReader(file) if row.get(column)]
        steps = np.array([int(row["step"]) for row in rows])
        losses = np.array([float(row[column]) for row in rows])
        smoothed = np.array([losses[max(0, i - 19):i + 1].mean() for i in range(len(losses))])
        axis.plot(steps, losses, color="#bbbbbb", linewidth=0.8, label="logged")
        axis.plot(steps, smoothed, color="#0072B2", label="mean of 20")
        axis.set_yscale("log")
        axis.set_xlabel("training step")
        axis.set_ylabel("v-prediction MSE" if stage.startswith("transformer") else "reconstruction MSE")
        axis.set_title(f"toy CogVideoX: {stage}")
        axis.legend()
    figure.tight_layout()
    figure.savefig(log_dir / "training_curves.png", dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as refusal:  # the checks' one line ("train_toy: error: ..."), with bad input's status
        if isinstance(refusal.code, str):
            print(refusal.code, file=sys.stderr)
            sys.exit(2)
        raise
