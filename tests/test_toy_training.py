"""The toy model's transformer training: the text it trains on is the text the pipeline renders with,
and the text encoder is trained (and averaged) only when asked."""

import pytest
import torch

from samg_video.families import get_family
from samg_video.families.cogvideox import TOY_TEXT_TOKENS
from samg_video.modules.toy_training import LatentPool, TransformerTraining
from samg_video.world.scenes import VOCABULARY, scene_set

PROMPTS = [scene.prompt() for scene in scene_set(3, 1)] + [""]


@pytest.fixture
def toy_pipeline():
    pipeline = get_family("cogvideox").build_toy_untrained(VOCABULARY, seed=0)
    pipeline.vae.register_to_config(scaling_factor=1.0)
    return pipeline


@pytest.mark.parametrize("train_text_encoder", [False, True])
def test_training_embeds_prompts_exactly_as_the_pipeline_does(toy_pipeline, train_text_encoder):
    module = TransformerTraining(toy_pipeline, max_sequence_length=TOY_TEXT_TOKENS,
                                 train_text_encoder=train_text_encoder)
    expected, _ = toy_pipeline.encode_prompt(PROMPTS, do_classifier_free_guidance=False,
                                             max_sequence_length=TOY_TEXT_TOKENS, device=torch.device("cpu"))
    embedded = module.embed(PROMPTS)
    assert embedded.shape == (len(PROMPTS), TOY_TEXT_TOKENS, toy_pipeline.text_encoder.config.d_model)
    torch.testing.assert_close(embedded.detach(), expected, rtol=1e-5, atol=1e-6)
    assert embedded.requires_grad == train_text_encoder


@pytest.mark.parametrize("train_text_encoder", [False, True])
def test_the_text_encoder_is_trained_and_averaged_only_when_asked(toy_pipeline, train_text_encoder):
    torch.manual_seed(0)
    before = {name: value.clone() for name, value in toy_pipeline.text_encoder.state_dict().items()}
    transformer_before = toy_pipeline.transformer.proj_out.weight.clone()
    module = TransformerTraining(toy_pipeline, learning_rate=1e-2, warmup_steps=1, ema_decay=0.5,
                                 empty_prompt_fraction=0.0, max_sequence_length=TOY_TEXT_TOKENS,
                                 train_text_encoder=train_text_encoder)
    module.log = lambda *args, **kwargs: None  # outside a Trainer
    optimizer = module.configure_optimizers()["optimizer"]
    latents = torch.randn(len(PROMPTS), 8, 3, 8, 8)
    pool = LatentPool(latents, torch.full_like(latents, 0.1), PROMPTS)
    batch = {"latent_mean": pool.mean, "latent_std": pool.std, "prompt": pool.prompts}
    for step in range(2):
        optimizer.zero_grad()
        module.training_step(batch, step).backward()
        optimizer.step()
        module.on_train_batch_end(None, batch, step)
    module.on_train_end()  # the moving average is what the pipeline keeps
    after = toy_pipeline.text_encoder.state_dict()
    changed = any(not torch.equal(before[name], after[name]) for name in before)
    assert changed == train_text_encoder
    assert not torch.equal(toy_pipeline.transformer.proj_out.weight, transformer_before)
    averaged = module.average.module.state_dict()
    for name, value in module.trained.state_dict().items():
        torch.testing.assert_close(value, averaged[name], rtol=0, atol=0)
    assert not toy_pipeline.text_encoder.training and not any(
        parameter.requires_grad for parameter in toy_pipeline.text_encoder.parameters())


def test_each_part_of_the_untrained_toy_model_has_its_own_seed():
    """The VAE is drawn first from the seed itself: changing the transformer or the text encoder leaves the
    VAE stage's result as it was."""
    from diffusers import AutoencoderKLCogVideoX

    pipeline = get_family("cogvideox").build_toy_untrained(VOCABULARY, seed=3)
    torch.manual_seed(3)
    vae = AutoencoderKLCogVideoX.from_config(pipeline.vae.config)
    for name, value in vae.state_dict().items():
        assert torch.equal(value, pipeline.vae.state_dict()[name]), name
    assert pipeline.transformer.config.patch_size == 1  # one token per latent cell
