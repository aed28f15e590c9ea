"""Immutable records for the protocol model: what ``@dataclass(frozen=True)`` gives, at a
fraction of its cost when the classes are created.

The protocol model (:mod:`gisttracker.protocols.model`) has 25 classes, created at every
start. ``dataclasses`` writes and compiles six methods for each class (about 9 ms for the
model, plus 5 ms to import ``dataclasses`` and ``inspect``), and a start that reads its
protocols from the cache (:mod:`gisttracker.protocols.cache`) builds their instances without
calling ``__init__`` at all. A :class:`Record` subclass is declared like a frozen dataclass::

    class Period(Record):
        months: int = 0
        weeks: int = 0
        days: int = 0

and behaves like one: an ``__init__`` taking the fields in order (positional or by name,
defaults and ``field(default_factory=…)`` as dataclasses has them; a field without a default
after one with a default is refused when the class is created), equality and hashing over
the fields (``field(compare=False)`` leaves one out; records of different classes are
never equal), ``repr`` (``field(repr=False)`` leaves one out), no assignment or deletion of
attributes (:class:`FrozenInstanceError`, an AttributeError, as dataclasses raises),
:func:`replace` (and :func:`dataclasses.replace`, ``fields``, ``asdict``, ``is_dataclass``,
for which the dataclass view of its fields is made when first asked for), pickling and
copying. Type checkers read it as a frozen dataclass (:func:`typing.dataclass_transform`).

The shared methods live on :class:`Record`; only ``__init__`` is made per class, when the
class is first instantiated (compiled then, as dataclasses does at creation), so a start
that makes no instance of a class never compiles one.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar, TypeVar, dataclass_transform

_MISSING: Any = object()
R = TypeVar("R", bound="Record")


class FrozenInstanceError(AttributeError):
    """An attempt to change a field of a record (records are immutable)."""


class _Field:
    """What :func:`field` declares about one field."""

    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING,
                 repr: bool = True, compare: bool = True) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.compare = compare


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] = _MISSING,
          repr: bool = True, compare: bool = True) -> Any:
    """A field's default (or the function making it), and whether it is shown by ``repr``
    and counted by equality and hashing (as :func:`dataclasses.field`)."""
    return _Field(default, default_factory, repr, compare)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record:
    """The base of an immutable record (see the module docstring)."""

    __slots__ = ()
    #: The fields in order: (name, declaration).
    _record_fields: ClassVar[tuple[tuple[str, _Field], ...]] = ()
    _record_key: ClassVar[Callable[[Any], Any]]
    _record_shown: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if any(issubclass(base, Record) and base is not Record for base in cls.__bases__):
            raise TypeError(f"{cls.__qualname__}: a record cannot extend another record")
        fields = []
        defaulted = ""
        # (Not inspect.get_annotations: importing inspect is what this module avoids.)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            spec = value if isinstance(value, _Field) else _Field(default=value)
            if isinstance(value, _Field):
                # The class attribute is the plain default, as dataclasses leaves it.
                if spec.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, spec.default)
            has_default = spec.default is not _MISSING or spec.default_factory is not _MISSING
            if has_default:
                defaulted = defaulted or name
            elif defaulted:
                raise TypeError(f"{cls.__qualname__}: field {name!r} without a default "
                                f"follows field {defaulted!r}, which has one")
            fields.append((name, spec))
        cls._record_fields = tuple(fields)
        compared = [name for name, spec in fields if spec.compare]
        # attrgetter of several names gives a tuple; of one, the value: always a tuple.
        # (A static method: called as type(self)._record_key(self), whatever the getter is.)
        getter: Callable[[Any], Any] = attrgetter(*compared) if compared else _nothing
        if len(compared) == 1:
            getter = _one(getter)
        cls._record_key = staticmethod(getter)
        cls._record_shown = tuple(name for name, spec in fields if spec.repr)
        setattr(cls, "__match_args__", tuple(name for name, _spec in fields))  # noqa: B010

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The first instance of this class: compile its own __init__, then use it.
        init = _make_init(type(self))
        init(self, *args, **kwargs)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(type(self)._record_key(self) == type(self)._record_key(other))

    def __hash__(self) -> int:
        return hash(type(self)._record_key(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_shown)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __replace__(self: R, **changes: Any) -> R:
        return replace(self, **changes)


class _DataclassFields:
    """``__dataclass_fields__`` of a record class, made when first asked for (by
    :func:`dataclasses.replace`, :func:`dataclasses.fields`, :func:`dataclasses.asdict`,
    :func:`dataclasses.is_dataclass`), so that code written for the dataclasses the model
    used to be keeps working. Made by :func:`dataclasses.make_dataclass` from the record's
    own fields: its public API, no private name of the module."""

    def __get__(self, instance: object, owner: type[Record]) -> dict[str, Any]:
        made = owner.__dict__.get("_record_dataclass_fields")
        if made is None:
            import dataclasses

            annotations = owner.__dict__.get("__annotations__", {})  # noqa: RUF063
            specs = []
            for name, spec in owner._record_fields:
                declared: Any = dataclasses.field(repr=spec.repr, compare=spec.compare)
                if spec.default is not _MISSING:
                    declared = dataclasses.field(default=spec.default, repr=spec.repr,
                                                 compare=spec.compare)
                elif spec.default_factory is not _MISSING:
                    declared = dataclasses.field(default_factory=spec.default_factory,
                                                 repr=spec.repr, compare=spec.compare)
                specs.append((name, annotations.get(name, "Any"), declared))
            view: Any = dataclasses.make_dataclass(owner.__name__, specs, frozen=True)
            made = view.__dataclass_fields__
            type.__setattr__(owner, "_record_dataclass_fields", made)
        return made  # type: ignore[no-any-return]


def _nothing(_record: Any) -> tuple[()]:
    return ()


def _one(getter: Callable[[Any], Any]) -> Callable[[Any], tuple[Any]]:
    return lambda record: (getter(record),)


def replace(record: R, /, **changes: Any) -> R:
    """A copy of ``record`` with ``changes`` (as :func:`dataclasses.replace`)."""
    if not isinstance(record, Record):
        raise TypeError("replace() should be called on record instances")
    for name, _spec in record._record_fields:
        if name not in changes:
            changes[name] = getattr(record, name)
    return type(record)(**changes)


def _make_init(cls: type[Record]) -> Callable[..., None]:
    """Compile ``cls.__init__``: the fields as parameters in order, with their defaults,
    each stored in the instance's dictionary (as a frozen dataclass's ``__init__`` does)."""
    names: dict[str, Any] = {"_MISSING": _MISSING}
    parameters = ["self"]
    body = []
    for index, (name, spec) in enumerate(cls._record_fields):
        if spec.default_factory is not _MISSING:
            names[f"_factory{index}"] = spec.default_factory
            parameters.append(f"{name}=_MISSING")
            body.append(f"  d[{name!r}] = _factory{index}() if {name} is _MISSING else {name}")
            continue
        if spec.default is not _MISSING:
            names[f"_default{index}"] = spec.default
            parameters.append(f"{name}=_default{index}")
        else:
            parameters.append(name)
        body.append(f"  d[{name!r}] = {name}")
    source = (f"def __init__({', '.join(parameters)}):\n  d = self.__dict__\n"
              + "\n".join(body) + "\n")
    exec(source, names)  # (code made from the class's own field names, as dataclasses does)
    init: Callable[..., None] = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010
    return init


# (Set after the class is made: a descriptor declared in the class body would be taken by
# type checkers for a field.)
Record.__dataclass_fields__ = _DataclassFields()  # type: ignore[attr-defined]
