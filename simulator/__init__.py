"""A downstream TiDB cluster on the real wire protocols (PD, TiKV ChangeData, TiDB status API).

Used by the tests, the demo and the benchmarks, in place of a real cluster that cannot run here.
"""
