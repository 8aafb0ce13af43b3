"""Fault-injection tests: they kill processes of real runs, inject exceptions and NaNs, and
fill the disk, and check that nothing is lost or left behind. The figures each test reaches
(kills survived, orphans found, checkpoints lost...) are printed: run with -s to see them."""
