"""What `make reproduce` runs and what it compares against: the runs, the protocol's constants, the
hyperparameter candidates tried on validation tasks, and the published numbers (reproduce.py runs it,
report.py writes it up).
"""

ALGORITHMS = ("pretrain", "maml", "fomaml", "reptile", "metasgd", "lslr", "metacurvature", "enhanced", "anil")
SHOTS = (5, 10)
REPORT_STEPS = (1, 5, 10)
SEED, TEST_SEED, VALIDATION_TASKS = 0, 1, 500

# Hyperparameters that are not the papers', with the candidates tried on validation tasks.
# "train": each candidate is meta-trained for --validation-iterations and the best is trained in full;
# "adapt": the candidates change only test-time adaptation, so they are compared on the full run.
CANDIDATES = {
    "reptile": ("train", [dict(inner_steps=s, meta_lr=lr) for s in (5, 10) for lr in (0.001, 0.003)]),
    "pretrain": ("adapt", [dict(inner_lr=lr) for lr in (0.0005, 0.001, 0.002, 0.005, 0.01)]),
    "enhanced": ("train", [dict(inner_lr=lr) for lr in (0.003, 0.01, 0.03)]),
}

# Published MSE on K query points (sinusoids of Finn et al. 2017), keyed by (algorithm, trained K, tested K, steps):
# a list of (mean, 95% half-width or None, source).
FINN, PARK, LI = "Finn et al. 2017, Table 2", "Park & Oliva 2019", "Li et al. 2017 (other protocol: report, not target)"
PUBLISHED = {
    ("maml", 10, 5, 1): [(0.67, None, FINN)], ("maml", 10, 5, 5): [(0.38, None, FINN)],
    ("maml", 10, 5, 10): [(0.35, None, FINN)],
    ("pretrain", 10, 5, 1): [(2.41, None, FINN)], ("pretrain", 10, 5, 5): [(2.23, None, FINN)],
    ("pretrain", 10, 5, 10): [(2.19, None, FINN)],
    ("maml", 5, 5, 1): [(0.69, 0.07, PARK), (1.13, 0.18, LI)], ("maml", 10, 10, 1): [(0.44, 0.04, PARK)],
    ("metasgd", 5, 5, 1): [(0.48, 0.06, PARK), (0.90, 0.16, LI)], ("metasgd", 10, 10, 1): [(0.26, 0.03, PARK)],
    ("metacurvature", 5, 5, 1): [(0.41, 0.05, PARK)], ("metacurvature", 10, 10, 1): [(0.20, 0.02, PARK)],
    ("enhanced", 5, 5, 1): [(0.41, 0.05, "bar: Meta-Curvature, " + PARK)],
    ("enhanced", 10, 10, 1): [(0.20, 0.02, "bar: Meta-Curvature, " + PARK)],
}
# The bar: these algorithms' cells from Finn et al. and Park & Oliva are to be matched or beaten (mean at or below).
BAR = ({"maml", "metasgd", "metacurvature", "enhanced"}, {FINN, PARK, "bar: Meta-Curvature, " + PARK})
