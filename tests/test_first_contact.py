"""What a new user meets on the command line: help, the commands offered, the last line of every run,
exit statuses, Ctrl-C, and the README's own commands and snippets."""

import re
import runpy
import shutil
import signal
import subprocess
import time

import pytest
from cli_runs import BIN, FAST, ROOT, TINY_CONFIG, cli_env, clip_videos, lines_of, run, run_here

from samg_video.files.resume import complete_metadata

README = ROOT / "README.md"


# ---- help (in this process: the suite stays fast; test_cli starts `predict --help` as a real process) ------
def cli(args, capsys, monkeypatch, cwd=None):
    """``main(args)`` as the command line runs it: (exit status, stdout, stderr)."""
    from samg_video.cli import main

    monkeypatch.chdir(cwd or ROOT)
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


def test_predict_help_lists_the_model_data_guidance_and_callback_options_not_the_trainers(capsys, monkeypatch):
    status, text, _ = cli(["predict", "--help"], capsys, monkeypatch)
    assert status == 0
    for option in ("--output_dir", "--overwrite", "--model.guidance", "--model.family", "--model.source",
                   "--model.num_inference_steps", "--data.prompts", "--data.batch_size", "--data.clips_dir",
                   "--model.guidance.help", "--trainer.callbacks.help", "--help-all"):
        assert option in text, option
    for name in ("SAMG", "CFG", "DynamicCFG", "CFGRescale", "APG", "CFGZeroStar", "samg_video.callbacks.ClipWriter",
                 "samg_video.callbacks.ClipMetrics", "samg_video.callbacks.ScaleMapWriter"):
        assert name in text, name
    assert "--trainer.gradient_clip_val" not in text and len(text.splitlines()) < 150
    assert "130 interrupted" in text


def test_help_all_still_lists_every_trainer_option(capsys, monkeypatch):
    status, text, _ = cli(["predict", "--help-all"], capsys, monkeypatch)
    assert status == 0 and "--trainer.gradient_clip_val" in text
    # Lightning's own text says predictions are returned by default; here they are not
    block = text[text.index("\n  --return_predictions"):][:400]
    assert "default: false" in " ".join(block.split()).lower() and "True by default" not in block
    assert "--ckpt_path" not in text and "--weights_only" not in text  # no checkpoints here


@pytest.mark.parametrize("args, expected", [
    (["--model.help", "VideoGenerator"], "--model.num_inference_steps"),
    (["--data.help", "PromptDataModule"], "--data.videos_per_prompt"),
    (["--data.help", "VideoFolderDataModule"], "--data.clips_dir"),
    (["--trainer.callbacks.help", "ClipWriter"], "lossless"),
], ids=["model", "data", "evaluation-data", "callback"])
def test_class_help_takes_short_names(capsys, monkeypatch, args, expected):
    status, text, _ = cli(["predict", *args], capsys, monkeypatch)
    assert status == 0 and expected in text


def test_guidance_help_works_without_a_config_and_names_options_that_are_accepted(capsys, monkeypatch):
    status, text, _ = cli(["predict", "--model.guidance.help", "SAMG"], capsys, monkeypatch)
    assert status == 0
    options = re.findall(r"--model\.guidance\.(\w+)", text)
    assert {"w_min", "w_max", "temporal_sigma", "step_ema", "window"} <= set(options)
    assert "--guidance." not in text.replace("--model.guidance.", "")
    # the options it names are the ones the command line takes
    status, printed, err = cli(["predict", "-c", TINY_CONFIG, "--model.guidance", "SAMG", "--model.guidance.w_min",
                                "3", "--model.guidance.w_max", "7", "--model.guidance.temporal_sigma", "1",
                                "--print_config"], capsys, monkeypatch)
    assert status == 0, err[-2000:]
    assert "w_min: 3.0" in printed and "temporal_sigma: 1.0" in printed
    status, _, err = cli(["predict", "--model.guidance.help", "magic"], capsys, monkeypatch)
    assert status == 2 and "choose one of APG, CFG" in err and "Traceback" not in err


# ---- commands that are not offered ------------------------------------------------------------------
@pytest.mark.parametrize("command", ["fit", "validate", "test"])
def test_lightning_subcommands_without_a_meaning_here_are_one_line(workdir, command, capsys, monkeypatch):
    if command == "fit":  # one in a real process; the others in this one (the same code path, faster)
        result = run([command, "-c", TINY_CONFIG], cwd=workdir)
        status, stderr = result.returncode, result.stderr
    else:
        status, _, stderr = cli([command, "-c", TINY_CONFIG], capsys, monkeypatch, cwd=workdir)
    assert status == 2 and "Traceback" not in stderr
    assert stderr.strip() == (f"samg-video: error: '{command}' is not a samg-video command: it renders and "
                              "scores clips with 'predict' (lightning predict -c CONFIG; see lightning "
                              "predict --help)")


def test_a_config_with_class_paths_of_earlier_versions_names_the_new_ones(tmp_path, capsys, monkeypatch):
    from samg_video.cli import main

    config = tmp_path / "old.yaml"
    config.write_text(TINY_CONFIG.read_text().replace("samg_video.modules.VideoGenerator",
                                                      "samg_video.module.VideoGenerator"))
    monkeypatch.chdir(tmp_path)  # in this process: faster; bad input in a real process is tested in test_cli.py
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "-c", str(config), "--output_dir", str(tmp_path / "out")])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in stderr
    assert "model.class_path='samg_video.module.VideoGenerator' has moved to 'samg_video.modules.VideoGenerator'" in stderr
    assert not (tmp_path / "out").exists()


# ---- the last line and the exit status of every run --------------------------------------------------
def last_line(result):
    return result.stderr.strip().splitlines()[-1]


def test_a_render_and_its_rerun_end_with_one_line_saying_what_happened(workdir, tmp_path):
    out = tmp_path / "out"
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", "[a cat, a dog]", *FAST]
    first = run_here(args, cwd=workdir)
    assert first.returncode == 0, first.stderr[-2000:]
    assert last_line(first) == f"samg-video: done: 2 clips rendered, none failed; outputs in {out}"
    # nothing of Lightning's chatter, and no stray progress bar before the clips bar
    for noise in ("GPU available", "TPU available", "Tip:", "Seed set", "Predicting:", "LeafSpec", "Traceback",
                  "Warning", "batch indices", "Loading pipeline components", "Loading weights"):
        assert noise not in first.stderr + first.stdout, noise
    again = run_here(args, cwd=workdir)
    assert again.returncode == 0
    assert last_line(again) == f"samg-video: done: nothing to render, all 2 clips are complete in {out}"
    # the same folder with other guidance: refused before rendering, the clips untouched
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    refused = run_here(args + ["--model.guidance.init_args.w_max", "8.0"], cwd=workdir)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "guidance.init_args.w_max was 9.6, this run has 8.0" in last_line(refused)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_the_quickstart_prints_its_own_lines_and_no_loading_bars(workdir, tmp_path):
    # the toy model loads with from_pretrained, whose libraries draw bars of their own (diffusers 0.42,
    # transformers 5) unless told not to
    out = tmp_path / "out"
    result = run_here(["predict", "-c", ROOT / "configs" / "toy_samg.yaml", "--output_dir", out, "--data.prompts",
                       "[a red circle moving right and a blue square staying still over green stripes]", *FAST], cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[0] == f"samg-video: rendering 1 clips into {out}" and lines[-1].startswith("samg-video: done")
    assert all(line.startswith(("samg-video: ", "Rendering clips:")) for line in lines), lines


def test_a_bug_stops_the_run_with_exit_3_and_keeps_finished_clips(workdir, tmp_path):
    # a real process: the status the shell sees, and the traceback on its stderr
    out = tmp_path / "out"
    result = run(["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", "[a cat, a dog]",
                  "--data.batch_size", "1", "--model.class_path", "faults.BrokenGenerator", *FAST], cwd=workdir)
    assert result.returncode == 3
    assert "ZeroDivisionError: a bug in the second batch" in result.stderr  # the traceback, for a bug report
    assert last_line(result).startswith("samg-video: error: the run stopped with an unexpected ZeroDivisionError")
    assert "re-running the same command resumes" in last_line(result)
    assert len(clip_videos(out)) == 1  # the first batch's clip was finished


def test_a_broken_setup_stops_the_run_with_exit_3_in_one_line(workdir, tmp_path):
    out = tmp_path / "out"
    result = run_here(["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", "[a, b, c, d]",
                       "--data.batch_size", "1", "--model.class_path", "faults.BrokenSetupGenerator", *FAST],
                      cwd=workdir)
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert last_line(result) == (
        "samg-video: error: the run stopped: rendering failed for 3 batches in a row; stopping. Last error: "
        "RuntimeError: CUDA error: an illegal memory access was encountered; clips already finished are kept, "
        "and re-running the same command resumes")
    assert len(lines_of(out / "failures.jsonl")) == 2  # the two batches before the run stopped


def interrupt(args, cwd, wait_for, signum=signal.SIGINT):
    """Start the CLI, send ``signum`` (SIGINT: Ctrl-C) once ``wait_for()`` is true; (status, stderr, seconds
    from the signal to the exit)."""
    process = subprocess.Popen([str(BIN / "lightning"), *map(str, args)], cwd=cwd, env=cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not wait_for() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signum)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr, time.monotonic() - sent


# a scheduler's graceful stop (SIGTERM) is handled as Ctrl-C is, with the shell's status for it
STOPS = {"ctrl-c": (signal.SIGINT, 130, "interrupted"), "sigterm": (signal.SIGTERM, 143, "stopped by SIGTERM")}


@pytest.mark.parametrize("stop", STOPS)
def test_a_stop_while_starting_is_one_line_and_the_signal_status(workdir, tmp_path, stop):
    signum, status_wanted, words = STOPS[stop]
    started = time.monotonic()
    status, stderr, _ = interrupt(["predict", "-c", TINY_CONFIG, "--output_dir", tmp_path / "out"], workdir,
                                  lambda: time.monotonic() - started > 1.5, signum)
    assert status == status_wanted and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == f"samg-video: {words} before rendering started; nothing was written"
    assert not (tmp_path / "out").exists()


def complete_clips(out):
    return [p for p in out.glob("clip-number-*.json") if complete_metadata(out, p.stem) is not None]


@pytest.mark.slow
def test_sigterm_then_ctrl_c_while_rendering_finish_clips_in_flight_and_a_rerun_completes(workdir, tmp_path):
    out = tmp_path / "out"
    prompts = "[" + ", ".join(f"clip number {i}" for i in range(6)) + "]"
    stock = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", prompts, "--data.batch_size", "1",
             *FAST]
    args = [*stock, "--model.class_path", "faults.SlowGenerator"]  # a second per clip: time to stop it mid-run
    finished = 0
    for stop in ("sigterm", "ctrl-c"):  # the second stop hits the resumed run
        signum, status_wanted, words = STOPS[stop]
        status, stderr, seconds = interrupt(args, workdir, lambda: len(complete_clips(out)) > finished, signum)
        assert status == status_wanted and "Traceback" not in stderr, stderr[-3000:]
        assert seconds < 15  # promptly: the clip in flight is abandoned, not the remaining clips rendered
        line = stderr.strip().splitlines()[-1]
        assert re.fullmatch(rf"samg-video: {words} after \d+ s; \d+ clips were finished into "
                            rf"{re.escape(str(out))}; re-running the same command resumes", line), line
        assert finished < len(complete_clips(out)) < 6 and len(lines_of(out / "metrics.jsonl")) >= finished
        assert not [p.name for p in out.glob(".*.tmp*")]  # every record whole, no temporary left
        finished = len(complete_clips(out))
    resumed = run_here(stock, cwd=workdir)  # the same clips, without the wait
    assert resumed.returncode == 0 and len(clip_videos(out)) == 6
    assert f"resuming: {finished} of 6 clips are complete" in resumed.stderr
    assert len(lines_of(out / "metrics.jsonl")) == 6


def test_ctrl_c_after_the_last_line_leaves_the_status_that_line_states(workdir, tmp_path):
    # a real process: Ctrl-C the moment the run has said it is done (during its shutdown) must not turn
    # "done" into status 130
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", tmp_path / "out", "--data.prompts", "[a cat]", *FAST]
    process = subprocess.Popen([str(BIN / "lightning"), *map(str, args)], cwd=workdir, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("samg-video: done"):
            process.send_signal(signal.SIGINT)
            break
    lines += process.stderr.readlines()
    assert process.wait(timeout=120) == 0, lines
    assert lines[-1].startswith("samg-video: done: 1 clips rendered, none failed")


# ---- the README: commands that exist, snippets that run -----------------------------------------------
def readme_blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_every_command_the_readme_and_the_errors_suggest_is_installed():
    commands = set()
    for block in readme_blocks("bash"):
        continued = False
        for line in block.splitlines():
            words = line.split()
            starts_command = not continued and words and not words[0].startswith("#")
            continued = line.rstrip().endswith("\\")
            if starts_command:
                word = next(w for w in words if "=" not in w)  # past VAR=value prefixes
                commands.add(word)
    commands -= {"srun"}  # the SLURM cluster's own launcher, not part of the install
    commands |= {"hf"}  # named by the offline error (families/base.py)
    missing = [command for command in sorted(commands) if shutil.which(command, path=str(BIN)) is None
               and shutil.which(command) is None]
    assert not missing and {"lightning", "python", "pip", "torchrun", "hf"} <= commands
    assert "huggingface-cli" not in README.read_text()
    # and every script and config it names is there
    text = README.read_text()
    for path in set(re.findall(r"\b((?:scripts|configs)/[\w/.-]+\.(?:py|yaml|txt|csv|jsonl))", text)):
        assert (ROOT / path).is_file(), path


def test_the_readme_python_snippets_run_as_written(tmp_path, capsys, monkeypatch):
    blocks = readme_blocks("python")
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for number, block in enumerate(blocks):  # each as a script of its own, in this process (the suite stays fast)
        script = tmp_path / f"snippet_{number}.py"
        script.write_text(block)
        try:
            runpy.run_path(str(script), run_name="__main__")
        except Exception as error:
            raise AssertionError(f"README python block {number}:\n{block}") from error
    assert capsys.readouterr().out.count("\n") >= len(blocks)  # every snippet printed what it shows
