"""The machinery that runs experiments on tinymeta's algorithms; nothing here is needed to read or copy them.

Read top-down; each module imports only those below it:

    cli        python -m tinymeta train | evaluate | plot | nearest | demo | bench | check: the command line
    check      python -m tinymeta check ALGO FILE.py: the property battery, run on a student's own module
    checklist  which properties the checker checks for each algorithm, and how it calls the module's functions
    properties the properties: a module's numbers against the references', on one random case
    cases      the checker's random cases: a small MLP, tasks, steps, rates, an algorithm's own settings
    references the obvious version of each algorithm: one task at a time, loops, dense matrices
    reproduce  make reproduce: choose on validation tasks, train, evaluate every run of protocol.py
    report     the results tables: sinusoid.json, sinusoid.md and results/README.md's, from the runs' result.json
    omniglot_report  the Omniglot tables: omniglot.json, omniglot.md, the published numbers beside ours
    figures    every figure of results/, drawn from the committed run files: error against steps, fits, each run
    stats      paired differences of two runs task by task, the tasks left out as diverged, number formats
    protocol   what make reproduce runs, the candidates it tries, the published numbers it compares against
    bench      make bench: ms per meta-iteration, scaling, peak memory
    plot       a figure of one run: test-task fits, the training curve, what was meta-learned
    pictures   a figure saved as a PNG holding a digest of what it draws, so that a test can tell it is current
    evaluate   the meta-test protocol: MSE (or accuracy) after 0..steps adaptation steps on fresh tasks
    train      a run's configuration, seeded task streams, the training loop
    registry   every algorithm as init / loss_and_grad / adapt, in one table
    fastmaml   MAML, Reptile and ANIL with no copy of the network per task (W + U^T V): Omniglot's training path
    families   the task families, sinusoid and Omniglot: each one's loss, network sizes and tasks
    progress   the progress line on stderr
    optim      Adam over a whole meta dict, and flattening it into one vector
    checkpoint a run folder: config.json, checkpoint.npz, result.json, written atomically
    flags      argument types shared by the command lines
    malloc     the malloc setting that train, demo, bench and reproduce run switch on
"""
