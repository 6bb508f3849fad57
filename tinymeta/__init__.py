"""tinymeta: gradient-based meta-learning in NumPy + autograd, small enough to read in one sitting.

Modules: `mlp` (the model), `sinusoid` (the task family), and one module per algorithm
(`maml`, `reptile`, ...). Algorithm modules import only numpy and autograd, so any one of
them can be copied out and used with another model.
"""
__version__ = "0.1.0"
