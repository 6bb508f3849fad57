"""tinymeta: gradient-based meta-learning in NumPy + autograd, small enough to read in one sitting.

What a student reads and copies sits here: `mlp` (the model; its hand-derived fast path in
`mlp_fast`), `sinusoid` (the task family), and one module per algorithm (`maml`, `reptile`, ...).
Algorithm modules import only numpy and autograd, so any one of them can be copied out and used
with another model. The machinery that runs experiments (training, evaluation, the command line,
plots, benchmarks, the reproduction pipeline) is the subpackage `tinymeta.lab`. Importing tinymeta
changes nothing in the process.
"""
__version__ = "0.1.0"
