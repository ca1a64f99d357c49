"""The chaos soak: seeded workloads, random faults, an oracle of the state at T.

``python -m bench.chaos --runs N --seed S [--faults LIST] [--size tiny|small]`` (``make soak``).
Modules: :mod:`~bench.chaos.plan` (the run drawn from its seed), :mod:`~bench.chaos.phases`
(where the job is), :mod:`~bench.chaos.inject` (the faults), :mod:`~bench.chaos.cluster_host`
(the fake cluster with its control port), :mod:`~bench.chaos.oracle` (the verdict),
:mod:`~bench.chaos.report` (the output), :mod:`~bench.chaos.runner` (one run).
"""
