"""Prompt files and lists into render items: parsing, seeds, ids, and errors naming file and line."""

import pytest

from datamodules.prompts import PromptDataModule


def items_of(prompts, **kwargs):
    return PromptDataModule(prompts, **kwargs).items


def test_text_file_skips_blank_lines(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("a cat\n\n   \na dog on a boat\n")
    assert [item["prompt"] for item in items_of(str(path))] == ["a cat", "a dog on a boat"]


def test_csv_with_optional_fields(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,prompt,negative_prompt,seed\nfirst,"a cat, sleeping",blurry,7\n,a dog,,\n')
    first, second = items_of(str(path))
    assert (first["id"], first["prompt"], first["negative_prompt"], first["seed"]) == ("first", "a cat, sleeping", "blurry", 7)
    assert second["negative_prompt"] == "" and second["id"].startswith("a-dog-")


def test_jsonl_with_optional_fields(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a cat", "seed": 3}\n\n{"prompt": "a dog", "negative_prompt": "rain", "id": "dog"}\n')
    first, second = items_of(str(path))
    assert first["seed"] == 3 and second["id"] == "dog" and second["negative_prompt"] == "rain"


def test_inline_list_and_videos_per_prompt():
    items = items_of(["a cat", "a dog"], videos_per_prompt=3)
    assert [item["prompt"] for item in items] == ["a cat"] * 3 + ["a dog"] * 3
    assert len({item["seed"] for item in items}) == 6 and len({item["id"] for item in items}) == 6


def test_explicit_seed_with_copies_counts_up(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a cat", "seed": 10, "id": "cat"}\n')
    assert [(i["seed"], i["id"]) for i in items_of(str(path), videos_per_prompt=2)] == [(10, "cat-0"), (11, "cat-1")]


def test_derived_seeds_depend_on_the_item_not_its_neighbours():
    alone = items_of(["a cat"], seed=1)[0]
    among_others = items_of(["a dog", "a bird", "a cat"], seed=1)[2]
    assert alone["seed"] == among_others["seed"] and alone["id"] == among_others["id"]
    assert items_of(["a cat"], seed=2)[0]["seed"] != alone["seed"]


def test_repeated_prompt_gets_distinct_seeds_and_ids():
    first, second = items_of(["a cat", "a cat"])
    assert first["seed"] != second["seed"] and first["id"] != second["id"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("p.txt", "", r"p.txt: no prompts in the file"),
        ("p.txt", "\n  \n", r"p.txt: no prompts in the file"),
        ("p.csv", "id,text\n1,a cat\n", r"p.csv:1: the header has no 'prompt' column \(columns: id, text\)"),
        ("p.csv", "prompt,seed\na cat,1\n,2\n", r"p.csv:3: missing or empty 'prompt'"),
        ("p.csv", "prompt,seed\na cat,1,extra\n", r"p.csv:2: more values than the header has columns"),
        ("p.csv", "prompt,seed\na cat,x\n", r"p.csv:2: 'seed'='x' is not a whole number"),
        ("p.jsonl", '{"prompt": "a"}\n{"prompt": "b"\n', r"p.jsonl:2: not valid JSON"),
        ("p.jsonl", '{"prompt": "a"}\n\n{"seed": 1}\n', r"p.jsonl:3: missing or empty 'prompt'"),
        ("p.jsonl", '["a cat"]\n', r"p.jsonl:1: each line must be a JSON object"),
        ("p.jsonl", '{"prompt": "a", "id": "x"}\n{"prompt": "b", "id": "x"}\n', r"p.jsonl:2: id 'x' is already used at .*p.jsonl:1"),
        ("p.yaml", "a cat\n", r"unknown file type '.yaml'; use one of .txt, .csv, .jsonl"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        items_of(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="data.prompts: file not found: .*nope.txt"):
        items_of(str(tmp_path / "nope.txt"))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"data.prompts\[1\] is empty"):
        items_of(["a cat", " "])
    with pytest.raises(ValueError, match="data.batch_size=0 is not valid"):
        items_of(["a cat"], batch_size=0)
    with pytest.raises(ValueError, match="data.videos_per_prompt=0 is not valid"):
        items_of(["a cat"], videos_per_prompt=0)


def test_dataloader_batches_items_as_lists():
    batches = list(PromptDataModule(["a", "b", "c"], batch_size=2).predict_dataloader())
    assert [len(batch) for batch in batches] == [2, 1] and batches[0][0]["prompt"] == "a"
