"""Checking what crosses into the services: Python types, numbers, dates and text.

The services are called by the window, the command line, bulk loads and tests, and one day
by other programs. Whatever reaches them must be of the kind each parameter's annotation
names, or the call is refused with an :class:`~gisttracker.errors.InputError` naming the
parameter (``data.notes`` for a field of an input record) before anything is read or
written. The annotations are the single statement of what a method takes; :func:`checked`
reads them, so a new method is covered by being annotated.

What is refused, beyond the wrong Python type:

* text with a lone surrogate (``"\\ud800"``: not encodable, so not storable), a NUL or
  another control character (other than tab, line feed and carriage return), or a
  Unicode non-character (U+FFFE, U+FFFF), and text longer than :data:`MAX_TEXT` characters;
* numbers that are not finite (NaN, ±∞) or larger in size than :data:`MAX_MAGNITUDE`
  (integers: :data:`MAX_INTEGER`); ``True``/``False`` are not numbers here;
* dates before :data:`EARLIEST_DATE` or after :data:`LATEST_DATE` (a visit schedule adds
  years to a date; ``date.max`` plus a month is an overflow, not a visit), and a
  ``datetime`` where a ``date`` is expected;
* lists and mappings of more than :data:`MAX_ITEMS` entries.

What a value means (an unknown study, a grade out of range) is the service's business; this
module only makes sure the service receives something it can reason about.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import functools
import inspect
import itertools
import math
import re
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from gisttracker.errors import InputError
from gisttracker.i18n import N_, _

#: Characters in one text value. A long free-text note is a few thousand characters; a
#: million is a paste gone wrong (or an attack) and would make every report that prints it
#: enormous.
MAX_TEXT: Final = 100_000
#: Entries in one list or mapping argument.
MAX_ITEMS: Final = 100_000
#: Largest size of a number: far above any measurement, count or dose, far below overflow.
MAX_MAGNITUDE: Final = 1e15
#: Largest size of a whole number: exact as a float and in SQLite's 8-byte integers.
MAX_INTEGER: Final = 2**53
EARLIEST_DATE: Final = date(1900, 1, 1)
LATEST_DATE: Final = date(2199, 12, 31)

# C0 controls other than tab, line feed and carriage return; DEL; the non-characters
# U+FFFE/U+FFFF (not allowed in XML, so not exportable).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")

Checker = Callable[[object, str], object]
F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

# One whole sentence per expected kind, so that translators see sentences, not fragments.
_WRONG_KIND: Final[dict[str, str]] = {
    "text": N_("{field} must be text, not {value}."),
    "int": N_("{field} must be a whole number, not {value}."),
    "number": N_("{field} must be a number, not {value}."),
    "bool": N_("{field} must be yes (True) or no (False), not {value}."),
    "date": N_("{field} must be a date, not {value}."),
    "datetime": N_("{field} must be a date and time, not {value}."),
    "list": N_("{field} must be a list, not {value}."),
    "mapping": N_("{field} must be a mapping of names to values, not {value}."),
    "record": N_("{field} must be a {kind} record, not {value}."),
    "other": N_("{field} has a value of the wrong kind: {value}."),
}


def label(field: str) -> str:
    """How a message names ``field``: its last part, in words (``identity.date_of_birth`` is
    "date of birth"); the full path stays in :attr:`InputError.field`."""
    return field.rsplit(".", 1)[-1].replace("_", " ")


def show(value: object, limit: int = 40) -> str:
    """``value`` for a message: its repr, cut to ``limit`` characters with a mark."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _wrong(expected: str, field: str, value: object, **extra: str) -> InputError:
    message = _(_WRONG_KIND[expected]).format(field=label(field), value=show(value), **extra)
    return InputError(message, field=field)


# --- scalar checks (usable on their own) -----------------------------------------------------


def check_text(value: object, field: str) -> str:
    """``value`` if it is text that can be stored, printed and exported; else InputError."""
    if not isinstance(value, str):
        raise _wrong("text", field, value)
    if len(value) > MAX_TEXT:
        raise InputError(_("{field} is too long: {length} characters, at most {limit}.").format(
            field=label(field), length=len(value), limit=MAX_TEXT), field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(_("{field} contains a broken character at position {position} (half "
                           "of a character pair); type the text again.").format(
            field=label(field), position=exc.start + 1), field=field) from None
    bad = _CONTROL.search(value)
    if bad is not None:
        raise InputError(_("{field} contains an invisible control character (U+{code:04X}) at "
                           "position {position}; remove it.").format(
            field=label(field), code=ord(bad.group()), position=bad.start() + 1), field=field)
    return value


def check_int(value: object, field: str) -> int:
    """``value`` if it is a whole number (not a bool) of a sensible size; else InputError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong("int", field, value)
    if abs(value) > MAX_INTEGER:
        raise _too_big(field, value)
    return value


def check_number(value: object, field: str) -> float | int:
    """``value`` if it is a finite int or float (not a bool) of a sensible size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong("number", field, value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(_("{field} must be a finite number, not {value}.").format(
            field=label(field), value=show(value)), field=field)
    if abs(value) > MAX_MAGNITUDE:
        raise _too_big(field, value)
    return value


def _too_big(field: str, value: object) -> InputError:
    return InputError(_("{field} is far too large: {value}.").format(
        field=label(field), value=show(value)), field=field)


def check_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong("bool", field, value)
    return value


def check_date(value: object, field: str) -> date:
    """``value`` if it is a ``date`` (not a datetime) between the accepted bounds."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise _wrong("date", field, value)
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InputError(_("{field}: {value} is outside the dates this program accepts "
                           "({first} to {last}).").format(
            field=label(field), value=value.isoformat(), first=EARLIEST_DATE.isoformat(),
            last=LATEST_DATE.isoformat()), field=field)
    return value


def _check_datetime(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise _wrong("datetime", field, value)
    check_date(value.date(), field)
    return value


def _check_decimal(value: object, field: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _wrong("number", field, value)
    if abs(value) > Decimal(MAX_MAGNITUDE):
        raise _too_big(field, value)
    return value


def check_loose(value: object, field: str) -> object:
    """For a parameter typed ``object``/``Any``: any kind is allowed, but text must still
    be storable, numbers finite and sensible, dates in range (also inside lists and
    mappings)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_text(value, field)
    if isinstance(value, int):
        return check_int(value, field)
    if isinstance(value, float):
        return check_number(value, field)
    if isinstance(value, Decimal):
        return _check_decimal(value, field)
    if isinstance(value, datetime):
        return _check_datetime(value, field)
    if isinstance(value, date):
        return check_date(value, field)
    if isinstance(value, list | tuple | set | frozenset):
        _check_size(value, field)
        for i, item in enumerate(value):
            check_loose(item, f"{field}[{i}]")
    elif isinstance(value, cabc.Mapping):
        _check_size(value, field)
        for key, item in value.items():
            check_loose(key, field)
            check_loose(item, f"{field}[{show(key, 20)}]")
    return value


def _check_size(value: cabc.Sized, field: str) -> None:
    if len(value) > MAX_ITEMS:
        raise InputError(_("{field} has too many entries: {count}, at most {limit}.").format(
            field=label(field), count=len(value), limit=MAX_ITEMS), field=field)


# --- checkers built from annotations ---------------------------------------------------------


_SCALARS: Final[dict[object, Checker]] = {
    str: check_text, int: check_int, float: check_number, bool: check_bool, date: check_date,
    datetime: _check_datetime, Decimal: _check_decimal, object: check_loose, Any: check_loose,
}
_CACHE: dict[object, Checker] = {}


def checker_for(hint: object) -> Checker:
    """The check of a value annotated ``hint`` (a type, a union, ``Literal``, a generic
    container, an input dataclass). Unknown generics and type variables pass unchecked."""
    try:
        return _CACHE[hint]
    except (KeyError, TypeError):
        pass
    made = _make(hint)
    with contextlib.suppress(TypeError):  # an unhashable hint: built again next time
        _CACHE[hint] = made
    return made


def _make(hint: object) -> Checker:
    with contextlib.suppress(TypeError):
        if hint in _SCALARS:
            return _SCALARS[hint]
    if hint is None or hint is type(None):
        return _none_only
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _union(args)
    if origin is typing.Literal:
        return _literal(args)
    if origin is typing.Annotated:
        return checker_for(args[0])
    if origin in (list, cabc.MutableSequence):
        return _sequence(args, (list,), convert=False)
    if origin in (tuple,):
        return _tuple(args)
    if origin in (cabc.Sequence,):
        return _sequence(args, (list, tuple), convert=False)
    if origin in (set, frozenset, cabc.Set, cabc.MutableSet):
        return _sequence(args, (set, frozenset), convert=False)
    if origin in (cabc.Iterable, cabc.Collection, cabc.Iterator):
        return _sequence(args, (), convert=True)
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        return _mapping(args)
    if origin is type or origin is cabc.Callable or isinstance(hint, TypeVar):
        return _anything
    if isinstance(hint, typing.NewType):
        return checker_for(hint.__supertype__)
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return _dataclass(hint)
        return _instance(hint)
    return _anything


def _anything(value: object, field: str) -> object:
    return value


def _none_only(value: object, field: str) -> object:
    if value is not None:
        raise _wrong("other", field, value)
    return value


def _instance(cls: type) -> Checker:
    def check(value: object, field: str) -> object:
        if not isinstance(value, cls):
            raise _wrong("record", field, value, kind=cls.__name__)
        return value
    return check


def _union(args: tuple[Any, ...]) -> Checker:
    optional = type(None) in args
    options = [a for a in args if a is not type(None)]
    checks = [checker_for(a) for a in options]

    def check(value: object, field: str) -> object:
        if value is None and optional:
            return value
        first: InputError | None = None
        for one in checks:
            try:
                return one(value, field)
            except InputError as exc:
                first = first or exc
        if len(checks) == 1 and first is not None:
            raise first  # ``X | None``: the message about X says it best
        raise _wrong("other", field, value)
    return check


def _literal(args: tuple[Any, ...]) -> Checker:
    allowed = tuple(args)

    def check(value: object, field: str) -> object:
        # True == 1: compare the type too.
        if any(value == a and type(value) is type(a) for a in allowed):
            return value
        raise InputError(_("{field} must be one of {allowed}, not {value}.").format(
            field=label(field), allowed=", ".join(str(a) for a in allowed), value=show(value)),
            field=field)
    return check


def _sequence(args: tuple[Any, ...], kinds: tuple[type, ...], *, convert: bool) -> Checker:
    item = checker_for(args[0]) if args else check_loose

    def check(value: object, field: str) -> object:
        if isinstance(value, str | bytes | bytearray | cabc.Mapping) or (
                kinds and not isinstance(value, kinds)) or not isinstance(value, cabc.Iterable):
            raise _wrong("list", field, value)
        if convert and not isinstance(value, cabc.Collection):
            # A one-pass iterator: read it (bounded) and pass the service the items.
            value = tuple(itertools.islice(value, MAX_ITEMS + 1))
        assert isinstance(value, cabc.Collection)
        _check_size(value, field)
        for i, one in enumerate(value):
            item(one, f"{field}[{i}]")
        return value
    return check


def _tuple(args: tuple[Any, ...]) -> Checker:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return _sequence(args[:1], (tuple,), convert=False)
    checks = [checker_for(a) for a in args]

    def check(value: object, field: str) -> object:
        if not isinstance(value, tuple) or len(value) != len(checks):
            raise _wrong("list", field, value)
        for i, (one, part) in enumerate(zip(checks, value, strict=True)):
            one(part, f"{field}[{i}]")
        return value
    return check


def _mapping(args: tuple[Any, ...]) -> Checker:
    key_check = checker_for(args[0]) if args else check_loose
    value_check = checker_for(args[1]) if len(args) > 1 else check_loose

    def check(value: object, field: str) -> object:
        if not isinstance(value, cabc.Mapping):
            raise _wrong("mapping", field, value)
        _check_size(value, field)
        for key, item in value.items():
            key_check(key, f"{field} (a name)")
            value_check(item, f"{field}[{show(key, 20)}]")
        return value
    return check


def _dataclass(cls: type) -> Checker:
    fields: list[tuple[str, Checker]] | None = None

    def check(value: object, field: str) -> object:
        nonlocal fields
        if not isinstance(value, cls):
            raise _wrong("record", field, value, kind=cls.__name__)
        if fields is None:
            hints = typing.get_type_hints(cls)
            fields = [(f.name, checker_for(hints.get(f.name, Any)))
                      for f in dataclasses.fields(cls)]
        for name, one in fields:
            one(getattr(value, name), f"{field}.{name}")
        return value
    return check


# --- the decorators ----------------------------------------------------------------------------


def checked(fn: F) -> F:
    """Check every argument of ``fn`` against its annotation before ``fn`` runs.

    The first parameter (``self``) is not checked. Annotations are read at the first call,
    so they may name classes defined later in the module.
    """
    plan: tuple[list[tuple[str, Checker]], dict[str, Checker]] | None = None

    def make_plan() -> tuple[list[tuple[str, Checker]], dict[str, Checker]]:
        hints = typing.get_type_hints(fn)
        params = list(inspect.signature(fn).parameters.values())[1:]
        positional = [(p.name, checker_for(hints.get(p.name, Any))) for p in params
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        by_name = {p.name: checker_for(hints.get(p.name, Any)) for p in params
                   if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        return positional, by_name

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal plan
        if plan is None:
            plan = make_plan()
        positional, by_name = plan
        new_args: list[Any] | None = None
        for i, value in enumerate(args[1:]):
            if i >= len(positional):
                break
            name, check = positional[i]
            result = check(value, name)
            if result is not value:
                new_args = new_args or list(args)
                new_args[i + 1] = result
        for name, value in kwargs.items():
            named = by_name.get(name)
            if named is not None:
                result = named(value, name)
                if result is not value:
                    kwargs[name] = result
        return fn(*(new_args if new_args is not None else args), **kwargs)

    setattr(wrapper, "__checked__", True)  # noqa: B010 - read by the coverage test
    return typing.cast(F, wrapper)


def public_methods(cls: type) -> list[str]:
    """Names of the public plain methods of ``cls`` and its bases (what a facade offers)."""
    names = []
    for name in dir(cls):
        if not name.startswith("_") and inspect.isfunction(inspect.getattr_static(cls, name)):
            names.append(name)
    return names
