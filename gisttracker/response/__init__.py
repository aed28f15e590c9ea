"""Tumour response derivations: RECIST 1.1 (:mod:`.recist`) and Choi (:mod:`.choi`).

Pure functions only: no Qt, no database, no I/O, no clock.
"""
