"""Metrics against hand-worked examples (docs/metrics.md)."""
import math

import pytest

from bench import metrics

USER_GT = "PRO:08/2022EXP:08/2023L2215029520H02:05,"
USER_PRED = "R00872022FXP:08/20232213029520H02'05"


def test_user_example_by_hand():
    # Alignment: delete P, O->0, delete ':', '/'->7 | E->F | delete L, 5->3 | ':'->"'",
    # delete ','  => 9 edits over N = 40 characters of truth.
    c = metrics.counts(USER_PRED, USER_GT)
    assert (c.correct, c.edits, c.gt_len, c.pred_len) == (0, 9, 40, 36)
    # Multiset overlap, per character: P1 R1 :1 0x8 8x2 /1 2x10 X1 3x1 1x1 5x2 9x1 H1 = 31.
    assert c.overlap == 31
    scores = metrics.corpus([c])
    assert scores["cer"] == pytest.approx(9 / 40)
    assert scores["char_precision"] == pytest.approx(31 / 36)
    assert scores["char_recall"] == pytest.approx(31 / 40)
    assert scores["strict_acc"] == 0


def test_corpus_cer_sums_edits_over_truth_lengths():
    # 1 edit in 10 chars and 2 edits in 2 chars: corpus CER 3/12, not the mean 0.55.
    items = [metrics.counts("ABCDEFGHIX", "ABCDEFGHIJ"), metrics.counts("", "AB")]
    assert metrics.corpus(items)["cer"] == pytest.approx(3 / 12)
    assert metrics.sample_cer(items[1]) == 1.0


def test_precision_recall_treat_characters_as_a_multiset():
    c = metrics.counts("AAB", "ABB")  # overlap: one A, one B
    assert c.overlap == 2
    assert metrics.corpus([c])["char_precision"] == pytest.approx(2 / 3)


def test_normalisation_removes_whitespace_folds_width_keeps_case():
    assert metrics.normalize("LOT ：12 34\tx") == "LOT:1234x"
    assert metrics.normalize("a b", strip_whitespace=False) == "a b"
    assert metrics.normalize("lot 1", casefold=True) == "LOT1"


def test_empty_corpus_is_nan_not_zero():
    scores = metrics.corpus([])
    assert all(math.isnan(v) for v in scores.values())


def test_code_token_picks_the_closest_run_of_letters_and_digits():
    # A plate crop read with the state name and slogan around the code.
    c = metrics.code_token_counts("CALIFORNIA 7ABC 123 dmv.ca.gov", "7ABC123")
    assert c.correct == 1
    assert metrics.code_token_counts("", "7ABC123").edits == 7
    # Punctuation in the truth is ignored the same way.
    assert metrics.code_token_counts("EXP 08 2023", "EXP:08/2023").correct == 1
