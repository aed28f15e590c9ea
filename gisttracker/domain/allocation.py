"""Allocation: concealed, reproducible stratified permuted-block randomization, and the
groups of the observational studies that the data decide.

Randomization. Each stratum has its own allocation list, a sequence of permuted blocks:
every block has a size drawn at random from the protocol's block sizes and holds each arm
in proportion to the allocation ratio, in random order. The list is a pure function of
(secret study seed, stratum key, arms, ratio, block sizes), so it is never stored: the
service layer asks for :func:`allocation_at` the position the next patient of a stratum
takes, at the moment of randomization, and nothing else. That is what keeps it concealed
(nobody can look ahead) and auditable (anyone holding the seed can regenerate the list and
check every allocation made). Keep the seed secret, and freeze the arms' order, ratio and
block sizes once the study starts: changing any of them changes the list.

Reproducibility. The generator is :class:`random.Random` seeded with a text (see
:func:`stratum_seed`). For a text seed Python (version-2 seeding, the default since 3.2)
uses every byte of the UTF-8 text followed by its SHA-512 digest, so the seed does not
depend on hash randomization, platform or word size. Only :meth:`random.Random.random` is
used to draw, because it is the one method whose sequence Python guarantees across
versions for a given seed; block sizes and permutations are built from it here
(:func:`_below`, a Fisher–Yates shuffle) rather than with ``choice``/``shuffle``, whose
algorithms Python may change.

No clock, no database, no I/O here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from dateutil.relativedelta import relativedelta

from gisttracker.errors import InputError
from gisttracker.i18n import _
from gisttracker.protocols.model import Allocation, Study

ALGORITHM: Final = "gisttracker-pbr-v1"
"""Name of this list-generation algorithm; part of every stratum seed (see stratum_seed)."""

# Other spellings of the procedure codes of the protocol catalogue (a list typed at
# enrollment or brought from another system).
_PROCEDURE_SPELLINGS: Final[Mapping[str, str]] = {
    "liver_resection": "hepatic_resection",
    "hepatectomy": "hepatic_resection",
    "hr": "hepatic_resection",
    "radiofrequency_ablation": "rfa",
    "transarterial_chemoembolization": "tace",
    "transarterial_chemoembolisation": "tace",
}


def stratum_seed(seed: str | int, stratum_key: str) -> str:
    """The text that seeds one stratum's list: algorithm name, study seed, stratum key.

    The study seed is length-prefixed, so no two (seed, stratum) pairs give the same text
    (``("a;b", "c")`` and ``("a", "b;c")`` differ). An int seed is used as its decimal text.
    """
    if isinstance(seed, bool) or not isinstance(seed, str | int):
        raise TypeError(_("the randomization seed must be text or a whole number"))
    text = str(seed)
    if not text:
        raise InputError(_("the randomization seed is empty"))
    return f"{ALGORITHM}:{len(text)}:{text}:{stratum_key}"


def _below(rng: random.Random, n: int) -> int:
    """A uniform integer in [0, n) drawn from ``rng.random()`` only (see module docstring).

    The bias of scaling a 53-bit float is below n / 2**53: nil for block sizes.
    """
    return min(int(rng.random() * n), n - 1)


def _check_design(arms: Sequence[str], ratio: Sequence[int],
                  block_sizes: Sequence[int]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Arms and ratio validated; ratio () means equal allocation. InputError says why not."""
    arm_codes = tuple(arms)
    if not arm_codes or len(set(arm_codes)) != len(arm_codes):
        raise InputError(_("randomization needs at least one arm, each listed once"))
    weights = tuple(ratio) or tuple(1 for _arm in arm_codes)
    if len(weights) != len(arm_codes):
        raise InputError(_("the allocation ratio has {n} parts for {m} arms").format(
            n=len(weights), m=len(arm_codes)))
    for number in (*weights, *block_sizes):
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            raise InputError(_("ratio and block sizes must be positive whole numbers"))
    if not block_sizes:
        raise InputError(_("randomization needs at least one block size"))
    unit = sum(weights)
    for size in block_sizes:
        if size % unit:
            raise InputError(_(
                "block size {size} is not a multiple of the allocation ratio total {unit}"
            ).format(size=size, unit=unit))
    return arm_codes, weights


def generate_blocks(arms: Sequence[str], ratio: Sequence[int], block_sizes: Sequence[int], *,
                    seed: str | int, length: int) -> tuple[tuple[str, ...], ...]:
    """The first blocks of one stratum's list, as many as cover ``length`` allocations.

    ``seed`` is the stratum's seed (:func:`stratum_seed`). Each block: a size drawn uniformly
    from ``block_sizes`` (a size listed twice is drawn twice as often; the order the sizes
    are listed in does not matter), holding ``size / sum(ratio) * ratio[i]`` of arm ``i``,
    randomly permuted. The blocks do not depend on ``length``: a longer list extends a
    shorter one.
    """
    arm_codes, weights = _check_design(arms, ratio, block_sizes)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise InputError(_("the list length must be a whole number of 0 or more"))
    if isinstance(seed, bool) or not isinstance(seed, str | int):
        raise TypeError(_("the randomization seed must be text or a whole number"))
    sizes = sorted(block_sizes)
    unit = sum(weights)
    rng = random.Random(str(seed))
    blocks: list[tuple[str, ...]] = []
    covered = 0
    while covered < length:
        size = sizes[_below(rng, len(sizes))]
        block = [code for code, w in zip(arm_codes, weights, strict=True)
                 for _copy in range(size // unit * w)]
        for i in range(len(block) - 1, 0, -1):  # Fisher–Yates
            j = _below(rng, i + 1)
            block[i], block[j] = block[j], block[i]
        blocks.append(tuple(block))
        covered += size
    return tuple(blocks)


def generate_list(arms: Sequence[str], ratio: Sequence[int], block_sizes: Sequence[int], *,
                  seed: str | int, length: int) -> tuple[str, ...]:
    """The first ``length`` arm codes of one stratum's allocation list.

    ``arms``: arm codes in protocol order; ``ratio``: one positive whole number per arm
    (empty = equal); ``block_sizes``: each a multiple of ``sum(ratio)``; ``seed``: the
    stratum's seed from :func:`stratum_seed`. Deterministic: the same arguments give the
    same list on every platform and Python version (see the module docstring).
    """
    blocks = generate_blocks(arms, ratio, block_sizes, seed=seed, length=length)
    return tuple(code for block in blocks for code in block)[:length]


def allocation_at(study_allocation: Allocation, arms: Sequence[str], seed: str | int,
                  stratum: str, position: int) -> str:
    """The arm code at 0-based ``position`` of stratum ``stratum``'s list.

    The list is regenerated and discarded; only the one code leaves this function. The
    service layer calls this once, when it randomizes the patient who takes ``position``
    (the count of patients already randomized in the stratum). ``arms`` are the study's
    arm codes in protocol order; ``seed`` is the study's secret seed; ``stratum`` a key from
    :func:`stratum_key`. InputError if the study is not randomized.
    """
    if study_allocation.method != "randomized":
        raise InputError(_("this study does not randomize (allocation by {method})").format(
            method=study_allocation.method))
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise InputError(_("the position in the allocation list must be 0 or more"))
    codes = generate_list(arms, study_allocation.ratio, study_allocation.block_sizes,
                          seed=stratum_seed(seed, stratum), length=position + 1)
    return codes[position]


def _factor_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def stratum_key(strata_factors: Sequence[str], facts: Mapping[str, object]) -> str:
    """The canonical key of a patient's stratum, e.g. ``"site=ZJU"``.

    ``strata_factors``: the protocol's stratification factors; ``facts``: the patient's value
    for each. Factors are sorted by name and joined with ``;`` (``"prior_line=2;site=ZJU"``),
    so reordering the factors in a protocol file does not move anybody to another stratum.
    An unstratified study has one stratum, key ``""``. InputError naming the factor when a
    value is missing or empty, or contains ``=`` or ``;``.
    """
    parts = []
    for name in sorted(set(strata_factors)):
        value = facts.get(name)
        text = "" if value is None else _factor_text(value)
        if not text:
            raise InputError(_("stratification factor {name} is missing").format(name=name))
        if "=" in text or ";" in text:
            raise InputError(_("stratification factor {name}: {value!r} may not contain = or ;")
                             .format(name=name, value=text))
        parts.append(f"{name}={text}")
    return ";".join(parts)


@dataclass(frozen=True)
class Randomizer:
    """One randomized study's allocation, for the service layer.

    Holds the secret seed (kept out of ``repr``) and hands out one allocation at a time.
    """

    allocation: Allocation
    arms: tuple[str, ...]
    seed: str | int = field(repr=False)

    @classmethod
    def for_study(cls, study: Study, seed: str | int) -> Randomizer:
        """The randomizer of ``study`` with the study's secret ``seed``."""
        if study.allocation.method != "randomized":
            raise InputError(_("this study does not randomize (allocation by {method})").format(
                method=study.allocation.method))
        return cls(study.allocation, tuple(arm.code for arm in study.arms), seed)

    def stratum_key(self, facts: Mapping[str, object]) -> str:
        """The patient's stratum key from their stratification factors."""
        return stratum_key(self.allocation.strata, facts)

    def allocation_at(self, stratum: str, position: int) -> str:
        """The arm code for 0-based ``position`` in ``stratum``."""
        return allocation_at(self.allocation, self.arms, self.seed, stratum, position)


def duration_group(allocation: Allocation, preop_start: date, last_preop_dose: date) -> str:
    """The group a duration places a patient in (the retrospective cohort: the duration of
    preoperative imatinib, between the two anchors of ``allocation.duration``).

    Durations are in calendar months (:mod:`dateutil.relativedelta`, month ends clipped):
    a patient is in the group with the smallest ``max_months`` such that
    ``preop_start + max_months months >= last_preop_dose``, else in the open-ended group
    (``max_months`` None). With groups 6 / 12 / open: exactly 6 months is the first group,
    6 months and 1 day the second, exactly 12 months the second, a day more the third.
    Start 31 Aug + 6 months is 28 (or 29) Feb. InputError if the last dose is before the
    start, or the groups do not cover the duration.
    """
    if last_preop_dose < preop_start:
        raise InputError(_("the last preoperative dose {stop} is before the start {start}")
                         .format(stop=last_preop_dose.isoformat(),
                                 start=preop_start.isoformat()))
    bounded = sorted((g for g in allocation.groups if g.max_months is not None),
                     key=lambda g: g.max_months or 0)
    open_ended = [g for g in allocation.groups if g.max_months is None]
    if len(open_ended) > 1:
        raise InputError(_("more than one group without an upper limit"))
    for group in bounded:
        assert group.max_months is not None
        if preop_start + relativedelta(months=group.max_months) >= last_preop_dose:
            return group.arm
    if open_ended:
        return open_ended[0].arm
    raise InputError(_("no group covers a preoperative treatment this long"))


def procedure_code(name: str) -> str:
    """The catalogue code of a procedure name (case, spaces and hyphens do not matter)."""
    text = "_".join(name.strip().lower().replace("-", " ").replace("/", " ").split())
    return _PROCEDURE_SPELLINGS.get(text, text)


def group_from_treatment(allocation: Allocation, procedures: Iterable[str]) -> str:
    """The group a patient's treatment places them in, by the protocol's group rules.

    ``procedures``: the procedures received (catalogue codes, or the spellings of
    ``_PROCEDURE_SPELLINGS``; case, spaces and hyphens do not matter). The rules
    (``[[allocation.rules]]``) are tried in order: the first whose procedures include one
    the patient received gives the group, and the last rule, without procedures, takes
    everybody else. NCT06038552 declares: any hepatic resection → IM_HR (even with RFA or
    TACE: each patient belongs to one group), else RFA or TACE → IM_LOCAL, else IM.
    Procedures no rule names (a resection of the primary) do not change the group.
    ValueError when the study derives no group from the treatment.
    """
    if isinstance(procedures, str):
        raise TypeError(_("expected a list of procedures, not one name"))
    if allocation.method != "treatment_received" or not allocation.rules:
        raise ValueError(_("this study does not derive groups from the treatment received"))
    codes = {procedure_code(p) for p in procedures}
    for rule in allocation.rules:
        if not rule.procedures or codes & set(rule.procedures):
            return rule.arm
    raise ValueError(_("no group rule applies"))  # the loader requires a last, open rule
