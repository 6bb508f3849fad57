"""The numbers of the results table and of `evaluate`: paired differences, who counts as diverged, when a bar is
met, and how a number is printed, at the edges where a slip would change what is read."""
import numpy as np
import pytest

from tinymeta.lab import evaluate, report, stats


def interval(d):
    return stats.mean_ci(d.mean(), 1.96 * d.std(ddof=1) / np.sqrt(len(d)))


def cell(mine, theirs, mine_before, theirs_before):
    return stats.paired_text(stats.paired_summary(mine, theirs, mine_before, theirs_before))


def test_a_paired_difference_leaves_out_the_tasks_that_diverged_in_either_run():
    # by evaluate's rule, each run against its own errors before adapting: task 0 diverged in mine
    # (0.5 > 100 x 0.004), task 2 is not finite, task 3 diverged in theirs (401 > 100 x 4)
    mine, mine_before = np.array([0.5, 0.3, np.inf, 0.2, 0.6]), np.array([0.004, 4, 4, 4, 4])
    theirs, theirs_before = np.array([0.25, 0.1, 0.3, 401.0, 0.35]), np.full(5, 4.0)
    expected = interval(np.array([0.2, 0.25]))
    assert cell(mine, theirs, mine_before, theirs_before) == expected + " (3 diverged tasks left out)"
    kept = [1, 4]
    assert cell(mine[kept], theirs[kept], mine_before[kept], theirs_before[kept]) == expected
    assert cell(mine[:3], theirs[:3], mine_before[:3], theirs_before[:3]).startswith("n/a (2 diverged")


def test_each_run_is_judged_against_its_own_error_before_adapting():
    """Task 0 diverged in neither run by its own before-error (0.05 <= 100 x 0.001, 50 <= 100 x 1) but would
    against the other run's; task 1 diverged in mine (150 > 100 x 1) but would not against theirs (10)."""
    mine = [np.array([0.001, 1.0, 1.0, 1.0]), np.array([0.05, 150.0, 0.3, 0.2]), np.array([0.04, np.nan, 0.2, 0.1])]
    theirs = [np.array([1.0, 10.0, 1.0, 1.0]), np.array([50.0, 0.5, 0.1, 0.4]), np.array([40.0, 0.5, 0.1, 0.3])]
    kept = [0, 2, 3]
    assert [stats.paired_text(c) for c in stats.paired_row(mine, theirs)] == [
        interval(mine[s][kept] - theirs[s][kept]) + " (1 diverged tasks left out)" for s in (1, 2)]
    d, left_out = stats.paired(mine[1], theirs[1], mine[0], theirs[0])
    assert np.array_equal(d, mine[1][kept] - theirs[1][kept]) and left_out == 1


@pytest.mark.parametrize("value, text", [
    (None, "nan"), (float("nan"), "nan"), (float("inf"), "nan"), (0.0, "0"), (0.0042, "0.0042"), (-0.0042, "-0.0042"),
    (0.01, "0.010"), (0.00996, "0.010"), (0.0996, "0.10"), (-0.154, "-0.15"), (0.1554, "0.16"), (2.44, "2.4"),
    (32.048, "32"), (999.4, "1000"), (9994.0, "10000"), (1e4, "1.0e+04"), (-2500.0, "-2500"), (1.4e5, "1.4e+05"),
    (-2.5e4, "-2.5e+04")])
def test_a_number_alone_has_two_significant_digits(value, text):
    assert stats.sig(value) == text


@pytest.mark.parametrize("mean, ci, text", [
    (0.614, 0.054, "0.614 ± 0.054"), (0.036, 0.0097, "0.0360 ± 0.0097"), (0.0025, 0.003, "0.0025 ± 0.0030"),
    (2.809, 0.212, "2.81 ± 0.21"), (0.5, 0.0996, "0.50 ± 0.10"), (0.5, 0.00996, "0.500 ± 0.010"),
    (-0.459, 0.043, "-0.459 ± 0.043"), (14.894, 25.776, "15 ± 26"), (0.3, None, "0.30"), (0.3, 0.0, "0.30"),
    (20.000000000000004, 1.7e-16, "20"), (None, None, "nan")])
def test_a_mean_has_the_decimals_of_its_interval_rounded_to_two_digits(mean, ci, text):
    assert stats.mean_ci(mean, ci) == text


def test_the_interval_of_equal_values_is_zero_not_rounding_noise():
    assert evaluate.ci95(np.full(1000, 0.2)) == 0.0 and np.std(np.full(1000, 0.2), ddof=1) > 0  # the noise it drops
    assert evaluate.ci95([0.2, 0.4]) == pytest.approx(1.96 * np.std([0.2, 0.4], ddof=1) / np.sqrt(2))


def test_a_cell_where_tasks_diverged_gives_the_count_and_the_median():
    assert stats.diverged_cell(3, 1000, 0.1642) == "diverged 3/1000, median 0.16"
    assert stats.diverged_cell(250, 1000, 32.048) == "diverged 250/1000, median 32"
    assert stats.diverged_cell(3, 1000) == "diverged 3/1000"


@pytest.mark.parametrize("value, text", [
    (None, "n/a"), (0.0, "0.0000"), (0.001, "0.0010"), (-0.001, "-0.0010"), (0.005, "0.0050"), (9.99e-4, "9.990e-04"),
    (5e-4, "5.000e-04"), (1.5, "1.5000"), (9999.0, "9999.0000"), (1e4, "1.000e+04"), (-3e4, "-3.000e+04")])
def test_an_evaluate_number_has_four_decimals_between_1e_3_and_1e4(value, text):
    assert evaluate.number(value) == text.rjust(10)


def test_a_bar_is_met_at_or_below_it():
    """protocol.PUBLISHED's rule: our mean at or below the published one; a diverged mean (None) falls short."""
    assert report.verdict(0.5, 0.5) == "met" and report.verdict(0.49, 0.5) == "met"
    assert report.verdict(0.512, 0.5) == "short by 0.012" and report.verdict(None, 0.5) == "short (adaptation diverged)"
    assert report.verdict(0.1, 0.5, bar=False) == "not a bar cell"


def records(tasks, mse=0.5, ci=0.1):
    return [dict(steps=s, mse_query=mse, ci_query=ci, mse_grid=mse, ci_grid=ci, median_query=mse, diverged=0,
                 tasks=tasks) for s in range(3)]


def test_evaluate_says_why_a_number_is_missing_and_only_then():
    one_task = evaluate.table(records(1, ci=None), 5)
    assert "an interval needs 2 test tasks or more" in one_task and "not a finite number" not in one_task
    for table in (evaluate.table(records(2), 5), evaluate.table(records(1000), 5)):
        assert "n/a" not in table
    diverged = evaluate.table(records(2, mse=None, ci=None), 5)
    assert "not a finite number" in diverged and "2 test tasks or more" not in diverged
