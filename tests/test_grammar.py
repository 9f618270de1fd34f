"""Code grammars (bench/grammar.py): the matcher on the user's own example, on confusable
characters, on readings that must stay as they are; grammar files that are wrong; and the
constrained reading as the runner records and the reporter shows it."""
import csv
import json
import os

import pytest

from bench import grammar
from bench.metrics import counts
from tests.conftest import EMBEDDED, bench, run_folder, write_suite

USER_FORMAT = "code: PRO:{9:2}/{9:4}EXP:{9:2}/{9:4}L{9:10}H{9:2}:{9:2}{P:0-1}"


def test_the_user_s_example_is_pulled_back_into_its_format():
    truth = "PRO:08/2022EXP:08/2023L2215029520H02:05,"
    reading = "R00872022FXP:08/20232213029520H02'05"
    fixed = grammar.Grammar(USER_FORMAT).correct(reading)
    assert not fixed.far and fixed.text == "PRO:08/2022EXP:08/2023L2213029520H02:05"
    assert counts(fixed.text, truth).edits == 2 < counts(reading, truth).edits == 9  # a digit, the comma


def test_confusable_characters_are_read_as_the_slot_allows():
    lot = grammar.Grammar("lot: LOT {9:10}\nexp: EXP:{9:2}/{9:4}\nbatch: BATCH {A:2}-{9:6}\n"
                          "code: {@lot}\ncode: {@exp}\ncode: {@batch}")
    assert lot.correct("LOT 12345O7890").text == "LOT 1234507890"
    assert lot.correct("EXP:O5/2O2S").text == "EXP:05/2025"
    assert lot.correct("BATCH 8Z-12345B").text == "BATCH BZ-123458"
    assert lot.correct("batch bz-123458").text == "BATCH BZ-123458"  # lower case read
    assert lot.correct("EXP：05/2025").text == "EXP:05/2025"  # PaddleOCR's full-width colon is a colon
    assert lot.correct("EXPO5/2025").text == "EXP:05/2025"  # a dropped separator comes back
    assert lot.correct("LOT 1234567890").cost == 0 and lot.correct("EXP:O5/2025").cost == pytest.approx(0.3)


def test_right_readings_and_readings_far_from_every_template_stay_unchanged():
    g = grammar.load(os.path.join(EMBEDDED, "grammar.txt"))
    for truth in [r["text"] for r in csv.DictReader(open(os.path.join(EMBEDDED, "manifest.csv")))]:
        assert g.correct(truth) == grammar.Correction(truth, 0.0, False)
    far = grammar.Grammar(USER_FORMAT).correct("NET WT 500 G")
    assert far.far and far.text == "NET WT 500 G"


def test_a_plate_is_found_among_the_other_words_of_its_crop():
    plates = grammar.load(os.path.join(os.path.dirname(EMBEDDED), "grammars", "us-plates.txt"))
    assert plates.correct("CALIFORNIA 7ABC123 DMV.CA.GOV").text == "7ABC123"
    assert plates.correct("SUNSHINE STATE FLORIDA ABC 1234").text == "ABC 1234"  # letters and digits win ties


@pytest.mark.parametrize("text, message", [
    ("lot LOT {9:10}", r"g.txt line 1: expected 'name: template'"),
    ("code: LOT {9:10}\ncode: EXP {Y:2}", r"g.txt line 2: \{Y:2\} is not a slot"),
    ("code: LOT {@lots}", r"g.txt line 1: \{@lots\} names no template"),
    ("code: LOT {@code}", r"g.txt line 1: \{@code\} refers to itself"),
    ("code: LOT {9:10", r"g.txt line 1: unbalanced braces"),
])
def test_a_grammar_that_does_not_parse_is_named_by_file_and_line(tmp_path, text, message):
    (tmp_path / "g.txt").write_text(text)
    with pytest.raises(grammar.GrammarError, match=message):
        grammar.load(str(tmp_path / "g.txt"))


def test_templates_that_accept_no_truth_are_warned_about():
    g = grammar.Grammar("code: LOT {9:10}\ncode: SN {X:8}", "g.txt")
    warnings = grammar.unused_templates(g, ["LOT 1234567890", "EXP 05/25"])
    assert warnings[0] == ("g.txt line 2: this code template accepts none of the 2 truths of the dataset; is the "
                           "grammar right?")
    assert "1 of 2 truths are outside the grammar (the first: 'EXP 05/25')" in warnings[1]


def test_the_runner_records_raw_and_constrained_readings_side_by_side(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {
        "right": {"adapter": "tests.fault_adapters:Echo", "options": {"text": "LOT 1234567890"}},
        "confused": {"adapter": "tests.fault_adapters:Echo", "options": {"text": "LOT 1234567B90"}}},
        warmup=0, telemetry_interval_s=0)
    (tmp_path / "g.txt").write_text("code: LOT {9:10}\ncode: SN {X:8}\n")
    data = str(tmp_path / "data")
    os.makedirs(data)
    with open(os.path.join(small_dataset, "manifest.csv")) as f:
        rows = list(csv.reader(f))
    for row in rows[1:]:
        row[0], row[1] = os.path.join(small_dataset, row[0]), "LOT 1234567890"
    with open(os.path.join(data, "manifest.csv"), "w", newline="") as f:
        csv.writer(f).writerows(rows)
    proc = bench("--config", suite, "--dataset", data, "--grammar", tmp_path / "g.txt", "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    assert "g.txt line 2: this code template accepts none of the 6 truths" in proc.stderr
    folder = run_folder(tmp_path / "results")
    with open(os.path.join(folder, "summary.csv")) as f:
        cells = {r["engine"]: r for r in csv.DictReader(f)}
    assert cells["right"]["strict_acc"] == cells["right"]["strict_acc_grammar"] == "1"
    assert cells["confused"]["strict_acc"] == "0" and cells["confused"]["strict_acc_grammar"] == "1"
    assert cells["right"]["n_grammar_worse"] == "0" and float(cells["confused"]["t_post_ms"]) > 0
    with open(os.path.join(folder, "samples.csv")) as f:
        sample = next(r for r in csv.DictReader(f) if r["engine"] == "confused")
    assert (sample["pred"], sample["pred_grammar"], sample["correct_grammar"]) == ("LOT 1234567B90", "LOT 1234567890", "1")
    with open(os.path.join(folder, "run.json")) as f:
        assert json.load(f)["grammar"]["path"] == str(tmp_path / "g.txt")
    from bench.report import load, tables
    table = tables.grammar_table(load.load([str(tmp_path / "results")]).summary)
    row = table[table["Engine"] == "confused"].iloc[0]
    assert (row["Strict % raw"], row["Strict % grammar"], row["Gain (points)"], row["Gap closed %"]) == \
        ("0.0", "100.0", "+100.0", "100")


def test_a_broken_grammar_stops_the_run_before_it_starts(tmp_path, small_dataset):
    (tmp_path / "g.txt").write_text("code: LOT {9:10\n")
    suite = write_suite(tmp_path / "suite.json", {"echo": {"adapter": "tests.fault_adapters:Echo"}})
    proc = bench("--config", suite, "--dataset", small_dataset, "--grammar", tmp_path / "g.txt",
                 "--results", tmp_path / "results")
    assert proc.returncode == 2 and "g.txt line 1: unbalanced braces" in proc.stderr
    assert not os.path.exists(str(tmp_path / "results"))


def test_fots_can_decode_its_lines_within_the_grammar():
    """The FOTS adapter's `grammar` option: the code read as the accepted string most
    probable under the CTC outputs; every reading of these frames lies in the grammar."""
    from adapters.base import join_reading_order
    from adapters.fots import Adapter
    from bench.dataset import decode, open_dataset, read_bytes
    from bench.metrics import normalize

    path = os.path.join(EMBEDDED, "grammar.txt")
    adapter = Adapter()
    adapter.load("cpu", {"grammar": path})
    code_grammar = grammar.load(path)
    right = 0
    for entry in open_dataset(EMBEDDED).entries[:6]:
        reading = join_reading_order(adapter.infer(adapter.preprocess(decode(read_bytes(entry), entry))))
        assert code_grammar.accepts(reading), reading
        right += normalize(reading) == normalize(entry.text)
    assert right >= 4
