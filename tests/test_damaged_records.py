"""Damaged record files never block a folder: the one record reader, fuzzed with arbitrary bytes and JSON
values, and damaged lines met by a re-run, an evaluation run and a report through their real entry points."""

import json

from cli_runs import FAST, TINY_CONFIG, lines_of, load_script, run_here
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samg_video.files.json_text import json_text
from samg_video.files.records import (
    append_line,
    parse_line,
    read_records,
    record_problem,
    set_aside_damaged_lines,
)

# what users and crashes leave in a metrics.jsonl: valid JSON that is no clip record, and worse
DAMAGED_LINES = [b"[1,2]", b'"str"', b"{}", b'{"id":5,"flicker":"abc"}', b'{"id": "x", "flicker": "abc"}',
                 b'{"id": "y", "seed": 1.5}', b'{"id": "", "flicker": 0.5}', b"null", b'{"id": "z", "fli',
                 b'{"id": "\xff\xfe", "flicker": 0.5}', b"\x80\x81 not utf-8", b'{"id": "n", "flicker": NaN}',
                 b'{"id": "l", "flicker_per_pair": [0.1, "x"]}']
RECORD = {"id": "clip-a", "prompt": "a cat", "seed": 3, "flicker": 0.9, "flicker_per_pair": [0.9, None]}

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)
# records that the writers could have written: identity and metric fields of the right types
records = st.fixed_dictionaries(
    {"id": st.text(min_size=1)},
    optional={"prompt": st.text(), "seed": st.integers(), "flicker": st.none() | st.floats(0, 1),
              "warping_error_per_pair": st.lists(st.floats(0, 10)),
              "model": st.recursive(st.none() | st.integers() | st.text(), lambda inner: st.lists(inner, max_size=3),
                                    max_leaves=6)})


def non_blank_lines(data: bytes) -> list[bytes]:
    return [line.removesuffix(b"\r") for line in data.split(b"\n") if line.strip()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400))
def test_arbitrary_bytes_are_read_without_error_and_set_aside_without_loss(tmp_path, content):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(content)
    (tmp_path / "metrics.jsonl.damaged").unlink(missing_ok=True)
    found = read_records(path)
    assert all(record_problem(record) is None for record in found.records.values())
    original = non_blank_lines(content)
    set_aside_damaged_lines(path)
    kept = non_blank_lines(path.read_bytes())
    aside = non_blank_lines((tmp_path / "metrics.jsonl.damaged").read_bytes()) if found.damaged else []
    assert sorted(kept + aside) == sorted(original)  # every line kept, in the file or beside it
    assert all(parse_line(line)[0] is not None for line in kept) and read_records(path).damaged == []
    assert read_records(path).records == found.records


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(json_values, max_size=5), good=st.lists(records, max_size=5))
def test_arbitrary_json_values_never_hide_the_records_beside_them(tmp_path, values, good):
    path = tmp_path / "metrics.jsonl"
    path.unlink(missing_ok=True)
    for value, record in zip(values + [None] * len(good), good + [None] * len(values)):
        if value is not None:
            with open(path, "ab") as file:
                file.write(json.dumps(value).encode("utf-8") + b"\n")  # NaN and Infinity as Python writes them
        if record is not None:
            append_line(path, record)
    found = read_records(path)
    expected = {record["id"]: record for record in good}
    assert {i: r for i, r in found.records.items() if i in expected} == expected
    assert all(record_problem(record) is None for record in found.records.values())


def test_each_damaged_line_is_named_once_with_its_reason(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"\n".join([json_text(RECORD).encode(), *DAMAGED_LINES]) + b"\n")
    found = read_records(path)
    assert list(found.records) == ["clip-a"] and [d.number for d in found.damaged] == list(range(2, 15))
    assert {d.number: d.problem for d in found.damaged}[2] == "a JSON list, not an object"
    assert {d.number: d.problem for d in found.damaged}[5] == 'no valid id (a non-empty string): id=5'
    assert {d.number: d.problem for d in found.damaged}[6] == 'flicker="abc" is not a number'
    assert {d.number: d.problem for d in found.damaged}[12] == "not UTF-8 text (byte 0)"
    read_records(path)
    warnings = [r.getMessage() for r in caplog.records if "is not a clip record" in r.getMessage()]
    assert len(warnings) == 13 and warnings[0].startswith(f"{path}:2 is not a clip record")


def render_args(out):
    return ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", "[a cat, a dog]", *FAST]


def test_a_rerun_sets_damaged_lines_aside_and_completes_and_a_report_reads_past_them(workdir, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_here(render_args(out), cwd=workdir).returncode == 0
    metrics = out / "metrics.jsonl"
    original = metrics.read_bytes()
    damage = b"".join(line + b"\n" for line in DAMAGED_LINES)
    metrics.write_bytes(original + damage)
    (out / "failures.jsonl").write_bytes(b"[1, 2]\n\xff\n")

    # a report reads past them, each named once
    other = tmp_path / "other"
    assert run_here([*render_args(other), "--model.guidance.init_args.w_max", "8"], cwd=workdir).returncode == 0
    assert load_script("compare_runs").main([str(out), str(other), "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [run["clips"] for run in report["runs"]] == [2, 2] and report["runs"][0]["damaged_lines"] == 13

    # a re-run resumes as if they were not there, sets them aside and counts them in the summary
    again = run_here([*render_args(out), "--data.prompts", "[a cat, a dog, a bird]"], cwd=workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.strip().splitlines()[-1].startswith("samg-video: done: 1 clips rendered")
    assert "13 damaged lines moved to" in again.stderr and "2 damaged lines moved to" in again.stderr
    assert (out / "metrics.jsonl.damaged").read_bytes() == damage
    assert (out / "failures.jsonl.damaged").read_bytes() == b"[1, 2]\n\xff\n"
    assert metrics.read_bytes().startswith(original) and len(lines_of(metrics)) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 3 and summary["damaged_lines"] == {"metrics.jsonl": 13, "failures.jsonl": 2}
    # and the next one has nothing left to repair
    third = run_here(render_args(out), cwd=workdir)
    assert third.returncode == 0 and "damaged line" not in third.stderr
