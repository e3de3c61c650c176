"""infolens.plots: figures of a run's measures over training (matplotlib, Agg; PNG and PDF).

:func:`infolens.plots.run.plot_run` makes every plot a run's measures allow; the single plots
live in :mod:`~infolens.plots.curves` (loss/accuracy, NC1, complexity, weight-graph EI),
:mod:`~infolens.plots.planes` (information plane, 𝒱-information plane) and
:mod:`~infolens.plots.causal_plane`.
"""
