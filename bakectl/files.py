"""Orders, recipe and bakery files (FORMATS.md) read into the model, every mistake located.

Each loader raises `InputErrors`: one `InputError` per problem, naming the file, line and
column, and as many problems as one reading finds (up to `MAX_ERRORS`); never another
exception for bad input.

YAML is read as a stream of libyaml events rather than as a whole document, so that a
200,000-order file takes seconds and little memory: each order is composed into light values
(the scalar events themselves, `_Map`, `_Seq`), checked against a table of fields
(`ORDER_FIELDS`), turned into an `Order` and dropped. Only plain, safe YAML gets through: no
anchors, aliases, merge keys or unusual tags, no duplicate keys, no nesting deeper than
`MAX_DEPTH`.

Scalars follow the YAML 1.1 rules of `yaml.safe_load` (`yes` is true), except that text fields
take the scalar's text as written (`id: 007` is "007", `customer: Yes` is "Yes"), that a plain
`1e3` is a number (YAML 1.1 wants `1.0e+3`), and that integers YAML 1.1 reads in another base
(`12:30` is 750, `010` is 8, `0x10` is 16, `0b10` is 2) are an error rather than a surprise.
A null (`~`, `null` or nothing) counts as an absent field.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

from bakectl.errors import InputError, InputErrors, Where
from bakectl.limits import MAX_MIXERS, MAX_OVENS, MAX_QUANTITY
from bakectl.model import (
    DEFAULT_AMBIENT_C,
    DEFAULT_COOL_C_PER_MIN,
    DEFAULT_MAX_TEMPERATURE_C,
    DEFAULT_PREHEAT_C_PER_MIN,
    KITCHEN_STAGES,
    Bake,
    Bakery,
    Ingredient,
    Order,
    OvenSpec,
    Recipe,
    Rest,
)

__all__ = [
    "Field",
    "check_orders",
    "load_bakery",
    "load_order_requests",
    "load_orders",
    "load_recipe",
    "load_yaml_mapping",
    "name_where",
]

#: most problems reported for one file: past that it is usually not the file the user meant
MAX_ERRORS = 50
#: deepest nesting of mappings and lists accepted (the formats need 4)
MAX_DEPTH = 50
#: longest duration (and latest due) in minutes: about 19 years
MAX_MINUTES = 10_000_000
#: temperatures an oven can sensibly be asked for, in degrees Celsius
MIN_TEMPERATURE_C = -273.15
MAX_TEMPERATURE_C = 2_000
#: slowest heating or cooling, in degrees per minute: even across the whole range above, a
#: set-up then stays under MAX_MINUTES (`preheat_c_per_min: 1e-300` made 1e302-minute days)
MIN_RATE_C_PER_MIN = 0.001
MAX_PRIORITY = 1_000_000_000
#: largest quantity of one ingredient in a recipe
MAX_INGREDIENT_QUANTITY = 1e9
#: largest recipe or bakery file: they are read whole (orders files are streamed)
MAX_SMALL_FILE_BYTES = 10 * 1024 * 1024

# libyaml parses ~20x faster than the pure-Python parser; both give the same events.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TOO_MANY = f"too many errors: stopped after the first {MAX_ERRORS}"
_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP = (
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
# "!" is the non-specific tag: the value is resolved as if untagged.
_ALLOWED_TAGS = {
    ScalarEvent: frozenset({"!", _STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP}),
    MappingStartEvent: frozenset({"!", _TAG + "map"}),
    SequenceStartEvent: frozenset({"!", _TAG + "seq"}),
}
_YAML12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?").fullmatch
_SMALL_INT = re.compile("0|[1-9][0-9]{0,17}").fullmatch
# YAML 1.1 integers in another base than ten: octal `010`, hexadecimal `0x10`, binary `0b10`.
_NOT_DECIMAL = re.compile("[-+]?0(?:[0-7_]+|x[0-9a-fA-F_]+|b[01_]+)").fullmatch
_NULL_TEXTS = frozenset({"", "~", "null", "Null", "NULL"})
_RESOLVER = Resolver()
_CONSTRUCTOR = SafeConstructor()
#: Control characters (and lone surrogates, which cannot be printed) that an escape in a
#: double-quoted string could smuggle into a name (also the server's and plugins' rule)...
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: ...while free text (a customer) may still hold tabs and newlines.
CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


# ---------------------------------------------------------------------------------------------
# Light values and error collection


class _Map:
    """A mapping as read: keys and values alternate in `items`."""

    __slots__ = ("start_mark", "items")

    def __init__(self, start_mark: Any):
        self.start_mark = start_mark
        self.items: list[Any] = []


class _Seq:
    """A list as read."""

    __slots__ = ("start_mark", "items")

    def __init__(self, start_mark: Any):
        self.start_mark = start_mark
        self.items: list[Any] = []


# A value as read: a ScalarEvent, an AliasEvent (already reported), a _Map or a _Seq.
_Node = Any


class _Stop(Exception):
    """Stop reading this file: it cannot be read on, or it has too many errors."""


class _Invalid(Exception):
    """One value is wrong; the reader of the enclosing mapping reports it."""

    def __init__(self, node: _Node, message: str):
        super().__init__(message)
        self.node = node
        self.message = message


class _Reported(Exception):
    """A value is wrong and its problems are already reported."""


class _Context:
    """Where the problems of one file go, and what its readers need to remember."""

    def __init__(self, path: str, start: datetime | None = None):
        self.path = path
        self.errors: list[InputError] = []
        #: the run's start, which date-times in `due` count from
        self.start = start
        #: (has a time zone, line) of the first date-time in `due`: one file must not mix both
        self.due_zone: tuple[bool, int] | None = None
        #: read orders as requests for a server (`load_order_requests`), not as Orders
        self.requests = False
        #: what is allowed but probably not meant (a due date already past), one line each
        self.warnings: list[InputError] = []

    def where(self, node: _Node | None) -> Where:
        if node is None:
            return Where(self.path)
        mark = node.start_mark
        return Where(self.path, mark.line + 1, mark.column + 1)

    def add(self, error: InputError) -> None:
        self.errors.append(error)
        if len(self.errors) >= MAX_ERRORS:
            raise _Stop

    def raise_errors(self) -> None:
        """Raise InputErrors for the problems reported, in file order, if there are any."""
        if not self.errors:
            return
        errors = sorted(self.errors, key=lambda error: (error.where.line, error.where.col))
        if len(errors) >= MAX_ERRORS:
            errors.append(InputError(Where(self.path), _TOO_MANY))
        raise InputErrors(errors)

    def error(self, node: _Node | None, message: str) -> None:
        """Report `message` at `node` (None: the whole file)."""
        self.add(InputError(self.where(node), message))

    def fatal(self, node: _Node | None, message: str) -> NoReturn:
        """Report `message` and stop reading the file."""
        self.error(node, message)
        raise _Stop


# ---------------------------------------------------------------------------------------------
# Opening files and pulling YAML events


def _open_file(path: str | Path, ctx: _Context, max_bytes: int | None) -> BinaryIO:
    """The file at `path`, open for binary reading, once it is known to be a regular file."""
    # stat before open: opening a FIFO waits for a writer, forever.
    try:
        info = os.stat(path)
    except FileNotFoundError:
        ctx.fatal(None, "no such file")
    except NotADirectoryError:
        ctx.fatal(None, "no such file (a part of the path is not a directory)")
    except PermissionError:
        ctx.fatal(None, "permission denied")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        ctx.fatal(None, f"cannot read this file: {_reason(exc)}")
    if stat.S_ISDIR(info.st_mode):
        ctx.fatal(None, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        ctx.fatal(None, "is not a regular file (a pipe, socket or device?)")
    if max_bytes is not None and info.st_size > max_bytes:
        ctx.fatal(None, f"is too large ({info.st_size:,} bytes; at most {max_bytes:,} expected)")
    try:
        # O_NONBLOCK: should the path have become a FIFO since stat, opening it does not hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        ctx.fatal(None, f"cannot read this file: {_reason(exc)}")
    stream = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        stream.close()
        ctx.fatal(None, "is not a regular file (a pipe, socket or device?)")
    return stream


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


class _Events:
    """A YAML file as libyaml events, composed into light values one at a time."""

    def __init__(self, stream: BinaryIO, ctx: _Context):
        # A binary stream: libyaml then checks the UTF-8 itself and reads in chunks.
        self._loader = _Loader(stream)
        #: the next event
        self.next: Callable[[], Any] = self._loader.get_event
        self.ctx = ctx

    def dispose(self) -> None:
        self._loader.dispose()

    def root(self) -> Any:
        """The first event of the document's value, or None if the file holds no document."""
        self.next()  # StreamStartEvent
        if self.next().__class__ is StreamEndEvent:
            return None
        return self.next()  # the one after DocumentStartEvent

    def finish(self) -> None:
        """Read past the end of the document; a second document is an error."""
        self.next()  # DocumentEndEvent
        event = self.next()
        if event.__class__ is DocumentStartEvent:
            self.ctx.error(event, "a second YAML document starts here: a file holds one document")

    def value(self, first: Any, depth: int) -> _Node:
        """The value that starts with event `first`, `depth` levels deep (the root is 1)."""
        cls = first.__class__
        if cls is ScalarEvent:
            if first.anchor is not None or first.tag is not None:
                self._check(first)
            return first
        if cls is AliasEvent:
            self._check(first)
            return first
        top = node = self.begin(first, depth)
        stack: list[Any] = []
        next_event = self.next
        # Iterative, not recursive: nesting is bounded by MAX_DEPTH, not by Python's stack.
        while True:
            event = next_event()
            cls = event.__class__
            if cls is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    self._check(event)
                node.items.append(event)
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                if not stack:
                    return top
                node = stack.pop()
            elif cls is AliasEvent:
                self._check(event)
                node.items.append(event)
            else:
                child = self.begin(event, depth + len(stack) + 1)
                node.items.append(child)
                stack.append(node)
                node = child

    def skip(self, first: Any, depth: int) -> None:
        """Read past the value that starts with event `first`, building nothing."""
        if first.__class__ is not MappingStartEvent and first.__class__ is not SequenceStartEvent:
            return
        level = 1
        while level:
            event = self.next()
            cls = event.__class__
            if cls is MappingStartEvent or cls is SequenceStartEvent:
                level += 1
                if depth + level - 1 > MAX_DEPTH:
                    self.ctx.fatal(event, f"nested deeper than {MAX_DEPTH} levels")
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                level -= 1

    def begin(self, event: Any, depth: int) -> _Map | _Seq:
        """An empty mapping or list for its start event, `depth` levels deep."""
        if depth > MAX_DEPTH:
            self.ctx.fatal(event, f"nested deeper than {MAX_DEPTH} levels")
        if event.anchor is not None or event.tag is not None:
            self._check(event)
        if event.__class__ is MappingStartEvent:
            return _Map(event.start_mark)
        return _Seq(event.start_mark)

    def _check(self, event: Any) -> None:
        """Report the anchor, alias or unsupported tag on `event`."""
        # Anchors and aliases are refused outright: nothing is ever expanded, so an alias
        # bomb cannot blow up, and a value means what it says where it says it.
        if event.__class__ is AliasEvent:
            self.ctx.error(event, f"aliases ('*{event.anchor}') are not supported:"
                                  " write the value out in full")
            return
        if event.anchor is not None:
            self.ctx.error(event, f"anchors ('&{event.anchor}') are not supported:"
                                  " write each value out in full")
        tag = event.tag
        if tag is not None and tag not in _ALLOWED_TAGS[event.__class__]:
            self.ctx.error(event, f"unsupported tag {_quote(tag.replace(_TAG, '!!'))}:"
                                  " only plain YAML values are accepted")


def _reading(ctx: _Context, path: str | Path, read: Callable[[_Events], Any],
             max_bytes: int | None = None) -> Any:
    """`read(events)` on the file at `path`; raises InputErrors if anything was reported."""
    result = None
    try:
        with _open_file(path, ctx, max_bytes) as stream:
            events = _Events(stream, ctx)
            try:
                result = read(events)
            finally:
                events.dispose()
    except _Stop:
        pass
    except yaml.MarkedYAMLError as exc:
        ctx.errors.append(_syntax_error(ctx.path, exc))
    except ReaderError as exc:
        ctx.errors.append(_reader_error(ctx.path, exc))
    except yaml.YAMLError as exc:
        ctx.errors.append(InputError(Where(ctx.path), f"cannot read this YAML: {exc}"))
    except OSError as exc:
        ctx.errors.append(InputError(Where(ctx.path), f"cannot read this file: {_reason(exc)}"))
    try:
        ctx.raise_errors()
    except InputErrors as exc:
        exc.partial = result  # what was read fine, so callers can check it too
        raise
    return result


def _syntax_error(path: str, exc: yaml.MarkedYAMLError) -> InputError:
    """A libyaml scanner or parser error at its mark (marks count from 0)."""
    mark = exc.problem_mark or exc.context_mark
    where = Where(path, mark.line + 1, mark.column + 1) if mark else Where(path)
    problem = exc.problem or exc.context or "not valid YAML"
    if problem == "exceeded maximum nesting depth":  # libyaml's own limit, met before ours
        return InputError(where, f"nested deeper than {MAX_DEPTH} levels")
    message = f"YAML syntax error: {problem}"
    if exc.problem and exc.context and exc.context_mark:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return InputError(where, message)


def _reader_error(path: str, exc: ReaderError) -> InputError:
    """A byte that is not UTF-8 text, or a control character, with its line and column."""
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    # libyaml counts bytes; the pure-Python reader counts characters once decoded.
    line, col = _line_col(path, exc.position, characters=exc.encoding == "unicode")
    where = Where(path, line, col)
    if "control" in exc.reason or "special" in exc.reason:
        return InputError(where, f"control character U+{code:04X} is not allowed in YAML"
                                 " (is this a binary file?)")
    reason = exc.reason
    if exc.encoding != "unicode":
        # libyaml blames the byte after a broken sequence (in `Jos\xe9}`, the `}`): Python's
        # decoder finds the byte that starts it, the one to fix.
        found = _first_bad_utf8(path)
        if found is not None:
            where, code, reason = found
    return InputError(where, f"not UTF-8 text (byte 0x{code:02X}: {reason}):"
                             " save the file as UTF-8")


def _first_bad_utf8(path: str) -> tuple[Where, int, str] | None:
    """Where the first byte that is not UTF-8 text is, the byte and why; None if none is."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError:
        return None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: libyaml's own words will do
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start].decode("utf-8-sig")
        where = Where(path, before.count("\n") + 1, len(before) - before.rfind("\n"))
        return where, data[exc.start], exc.reason
    return None


def _line_col(path: str, offset: int, *, characters: bool) -> tuple[int, int]:
    """Line and column (from 1) of an offset into the file; (0, 0) if it cannot be read."""
    try:
        with open(path, "rb") as stream:
            data = stream.read() if characters else stream.read(offset)
    except OSError:
        return 0, 0
    if characters:
        text = data.decode("utf-8", "replace")[:offset]
    else:
        # libyaml also reads UTF-16 that starts with a byte-order mark; its offset counts bytes.
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        text = data.decode("utf-16" if utf16 else "utf-8-sig", "replace")
    return text.count("\n") + 1, len(text) - text.rfind("\n")


# ---------------------------------------------------------------------------------------------
# Scalars


def _is_null(node: _Node) -> bool:
    """Whether `node` is a YAML null: `~`, `null` or nothing at all."""
    return node.__class__ is ScalarEvent and (
        (node.implicit[0] and node.value in _NULL_TEXTS) or node.tag == _NULL)


def _scalar_value(node: _Node, label: str) -> Any:
    """A scalar's value (see `_typed`), or None for a mapping, a list or an alias."""
    if node.__class__ is not ScalarEvent:
        return None
    # Most numbers in an orders file are small plain decimals: read them without the resolver.
    if node.tag is None and node.implicit[0] and _SMALL_INT(node.value):
        return int(node.value)
    return _typed(node, label)


def _typed(node: Any, label: str) -> Any:
    """A scalar's value by the YAML 1.1 safe rules: str, int, float, bool or None.

    Dates stay text (`due` reads them itself). Raises _Invalid for a value its explicit tag
    does not fit, or an integer too long for int().
    """
    text = node.value
    tag = node.tag
    if tag is None or tag == "!":
        if not node.implicit[0]:
            return text
        tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
        if tag == _STR and _YAML12_FLOAT(text):
            # YAML 1.1 reads `1e3` as text (its floats need a dot); YAML 1.2 and people do not.
            return float(text)
    if tag == _INT or tag == _FLOAT:
        if ":" in text:
            # YAML 1.1 reads `12:30` as 750 (base 60): nobody writing a bakery file means that.
            raise _Invalid(node, f"{label}: {_quote(text)} would be read as a base-60 number"
                                 " (YAML 1.1): write a plain number")
        if tag == _INT and _NOT_DECIMAL(text):
            # `quantity: 010` would be 8 cakes: nobody means that either.
            raise _Invalid(node, _not_decimal(label, text))
        scalar = ScalarNode(tag, text)
        try:
            if tag == _INT:
                return _CONSTRUCTOR.construct_yaml_int(scalar)
            return _CONSTRUCTOR.construct_yaml_float(scalar)
        except (ValueError, IndexError):
            # Python refuses int() on more than 4300 digits: one message for all huge numbers.
            if len(text) > 1000:
                message = f"{label} is too large: a {len(text):,}-digit number"
                raise _Invalid(node, message) from None
            kind = "an integer" if tag == _INT else "a number"
            raise _Invalid(node, f"{label}: {_quote(text)} is not {kind}") from None
    if tag == _BOOL:
        value = _CONSTRUCTOR.bool_values.get(text.lower())
        if value is None:
            raise _Invalid(node, f"{label}: {_quote(text)} is not a yes/no value")
        return value
    if tag == _NULL:
        return None
    return text  # str, a date, or an unsupported tag (already reported)


def _not_decimal(label: str, text: str) -> str:
    """Why an octal, hexadecimal or binary integer is refused, and what to write instead."""
    digits = text.lstrip("+-").replace("_", "")
    kind = {"0x": "hexadecimal", "0b": "binary"}.get(digits[:2], "octal")
    if len(digits) > 20:  # too long to be meant: no need to work out its value
        return (f"{label}: {_quote(text)} would be read as {'an' if kind == 'octal' else 'a'}"
                f" {kind} number (YAML 1.1): write it in decimal")
    value = _CONSTRUCTOR.construct_yaml_int(ScalarNode(_INT, text))
    said = f"{label}: {_quote(text)} would be read as the {kind} number {value} (YAML 1.1):" \
           f" write {value}"
    if kind == "octal":
        meant = int(text.replace("_", ""))  # the digits read as decimal, as people read them
        if meant != value:
            said += f", or {meant} without the leading zero"
    return said


def _describe(node: _Node) -> str:
    """What a value is, for "must be ..., got X" messages."""
    cls = node.__class__
    if cls is _Map:
        return "a mapping"
    if cls is _Seq:
        return "a list"
    if cls is not ScalarEvent:
        return "an alias"
    text = node.value
    try:
        value = _typed(node, "")
    except _Invalid:
        value = text
    if value is None:
        return "nothing"
    if value is True or value is False:
        return f"{text} (a yes/no value)"
    if not isinstance(value, str):
        return _clip(text)
    if node.style in ("'", '"') and _RESOLVER.resolve(ScalarNode, text, (True, False)) in (
            _INT, _FLOAT):
        return f"{_quote(text)} (quoted, so it is text)"
    return _quote(text)


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _quote(text: str) -> str:
    # repr: a control character in a name shows as an escape, not as a terminal command.
    return repr(_clip(text))


def _number_text(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _wrong(node: _Node, label: str, expected: str) -> NoReturn:
    if node.__class__ is AliasEvent:
        raise _Reported
    raise _Invalid(node, f"{label} must be {expected}, got {_describe(node)}")


# ---------------------------------------------------------------------------------------------
# Fields: one reader per kind of value


#: A field reader: (value, label, context) -> the value for the model, or raises _Invalid.
Reader = Callable[[_Node, str, _Context], Any]


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a mapping: how to read its value, and what it is when absent (or null)."""

    read: Reader
    required: bool = False
    default: Any = None


def _text(*, empty: bool = False, lines: bool = False) -> Reader:
    """Any scalar, as the text written; `empty`: may be ""; `lines`: may hold newlines, tabs."""
    control = CONTROL_IN_TEXT if lines else CONTROL

    def read(node: _Node, label: str, ctx: _Context) -> str:
        if node.__class__ is not ScalarEvent:
            _wrong(node, label, "text")
        text = node.value
        if text and text.isprintable():  # the common case, checked at C speed
            return text
        if not text and not empty:
            raise _Invalid(node, f"{label} must not be empty")
        found = control.search(text)
        if found:
            raise _Invalid(node, f"{label} must not contain control character"
                                 f" U+{ord(found.group()):04X}")
        return text

    return read


def _integer(low: int, high: int) -> Reader:
    """An integer from `low` to `high`; not a bool, not 2.0."""

    def read(node: _Node, label: str, ctx: _Context) -> int:
        value = _scalar_value(node, label)
        if value.__class__ is int:
            if low <= value <= high:
                return value
            _out_of_range(node, label, value, low, high)
        _wrong(node, label, "an integer")

    return read


def _yes_no(node: _Node, label: str, ctx: _Context) -> bool:
    """true or false (YAML 1.1 also reads yes/no)."""
    value = _scalar_value(node, label)
    if value is True or value is False:
        return value
    _wrong(node, label, "true or false")


def _number(low: float, high: float, *, above: bool = False) -> Reader:
    """A finite number from `low` (or, with `above`, more than `low`) to `high`, as a float."""

    def read(node: _Node, label: str, ctx: _Context) -> float:
        return _checked_number(node, label, _scalar_value(node, label), low, high, above)

    return read


def _checked_number(node: _Node, label: str, value: Any, low: float, high: float,
                    above: bool = False) -> float:
    """`value` (read from `node`) as a float, if it is a finite number in range."""
    cls = value.__class__
    if cls is int or cls is float:
        problem = range_problem(value, node.value, low, high, above)
        if problem is None:
            return float(value)
        raise _Invalid(node, f"{label} {problem}")
    _wrong(node, label, "a number")


def _out_of_range(node: _Node, label: str, value: float, low: float, high: float,
                  above: bool = False) -> NoReturn:
    raise _Invalid(node, f"{label} {range_problem(value, node.value, low, high, above)}")


def range_problem(value: int | float, text: str, low: float, high: float,
                  above: bool = False) -> str | None:
    """Why the number `value` (written as `text`) is not a finite number from `low` (or, with
    `above`, more than `low`) to `high`, to follow the field's name; None if it is one.
    Shared with the server's check of a JSON order (bakectl/server/validation.py)."""
    if (low < value if above else low <= value) and value <= high:
        return None
    if value.__class__ is float and not math.isfinite(value):
        if text.lower().lstrip("+-.") in ("inf", "nan", "infinity"):
            return f"must be a finite number, got {_clip(text)}"
        return f"is too large: {_clip(text)}"
    if value > high:
        return f"must be at most {_number_text(high)}, got {_clip(text)}"
    least = "more than" if above else "at least"
    return f"must be {least} {_number_text(low)}, got {_clip(text)}"


def due_date(text: str, start: datetime, *, start_name: str = "the start of the run"
             ) -> tuple[datetime, float]:
    """An ISO 8601 date or date-time `text` as written (no time zone: local time), and the
    minutes from `start` to it. Raises ValueError saying what is wrong, to follow the
    field's name, or with no message if `text` is no date at all.
    Shared with the server's check of a JSON order (bakectl/server/validation.py)."""
    text = text.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        if re.match(r"\d{4}-\d\d-\d\d", text):  # a date, but not a real one
            raise ValueError(f"{_quote(text)} is not a valid date ({exc})") from None
        raise ValueError() from None
    try:
        minutes = (when.astimezone() - start).total_seconds() / 60
    except (ValueError, OverflowError, OSError):
        minutes = math.inf
    if abs(minutes) > MAX_MINUTES:
        years = MAX_MINUTES / (365.25 * 24 * 60)
        raise ValueError(f"{_quote(text)} is too far from {start_name} (at most "
                         f"{MAX_MINUTES:,} minutes, about {years:.0f} years, either way)")
    return when, minutes


def _due(node: _Node, label: str, ctx: _Context) -> float:
    """Minutes from the run's start: a number of minutes, or an ISO 8601 date or date-time."""
    try:
        value = _scalar_value(node, label)
    except _Invalid as exc:
        if ":" in node.value:  # `due: 12:30`, a time of day that YAML 1.1 reads as base 60
            raise _Invalid(node, f"{label}: {_quote(node.value)} would be read as a base-60"
                                 " number (YAML 1.1): write minutes as a plain number, or a"
                                 " date-time such as 2026-11-25T12:30") from None
        raise exc from None
    if value.__class__ is str:
        return _due_date(node, label, ctx)
    if value.__class__ is int or value.__class__ is float:
        return _checked_number(node, label, value, 0, MAX_MINUTES)
    _wrong(node, label, "minutes from the start of the run or an ISO 8601 date-time")


def _due_date(node: _Node, label: str, ctx: _Context) -> float:
    text = node.value.strip()
    try:
        when, minutes = due_date(text, ctx.start)
    except ValueError as exc:
        if not str(exc):
            _wrong(node, label, "minutes from the start of the run or an ISO 8601 date-time")
        raise _Invalid(node, f"{label}: {exc}") from None
    zoned = when.utcoffset() is not None
    line = node.start_mark.line + 1
    if ctx.due_zone is None:
        ctx.due_zone = (zoned, line)
    elif ctx.due_zone[0] != zoned:
        this, that = ("no", "one") if ctx.due_zone[0] else ("a", "none")
        raise _Invalid(node, f"{label} has {this} time zone, but the date-time at line"
                             f" {ctx.due_zone[1]} has {that}: give every date-time a time zone,"
                             " or none")
    if minutes < 0:
        # Allowed (yesterday's order still has to be baked), but said: it may be a typo.
        ctx.warnings.append(InputError(ctx.where(node), f"due {text} is before the start of the"
                                                        " run: the order is late already"))
    return minutes


def _mapping(fields: Mapping[str, Field], build: Callable[..., Any] = dict) -> Reader:
    """A nested mapping read by `fields`, given to `build` as keyword arguments."""

    def read(node: _Node, label: str, ctx: _Context) -> Any:
        if node.__class__ is not _Map:
            _wrong(node, label, "a mapping of fields")
        got = _read_mapping(node, fields, ctx, label)
        if got is None:
            raise _Reported
        return build(**got[0])

    return read


def _list_of(read_item: Reader) -> Reader:
    """A list, each item read by `read_item`, as a tuple; items are labelled `label[0]`..."""

    def read(node: _Node, label: str, ctx: _Context) -> tuple[Any, ...]:
        if node.__class__ is not _Seq:
            _wrong(node, label, "a list")
        items, ok = [], True
        for k, item in enumerate(node.items):
            try:
                items.append(read_item(item, f"{label}[{k}]", ctx))
            except _Invalid as exc:
                ctx.error(exc.node, exc.message)
                ok = False
            except _Reported:
                ok = False
        if not ok:
            raise _Reported
        return tuple(items)

    return read


def _ovens(node: _Node, label: str, ctx: _Context) -> tuple[OvenSpec, ...]:
    """A list of ovens with unique names, or a number of default ovens."""
    if node.__class__ is _Seq:
        if not node.items:
            raise _Invalid(node, f"{label} must list at least one oven")
        # Names are checked before the ovens are read, so that a mistake in one oven does not
        # hide two ovens with one name.
        first: dict[str, _Node] = {}  # oven name -> its `name` value
        duplicated = False
        for item in node.items:
            where = _oven_name_node(item)
            if where is None:
                continue
            name = where.value
            seen = first.setdefault(name, where)
            if seen is not where:
                at = f"line {seen.start_mark.line + 1}"
                if seen.start_mark.line == where.start_mark.line:
                    at += f", column {seen.start_mark.column + 1}"
                ctx.error(where, f"duplicate oven name {_quote(name)} (first at {at})")
                duplicated = True
        specs = _list_of(_mapping(OVEN_FIELDS, OvenSpec))(node, label, ctx)
        if duplicated:
            raise _Reported
        return specs
    value = _scalar_value(node, label)
    if value.__class__ is int:
        if not 1 <= value <= MAX_OVENS:
            _out_of_range(node, label, value, 1, MAX_OVENS)
        return Bakery.default(value).ovens
    _wrong(node, label, "a list of ovens or a number of ovens")


def _oven_name_node(item: _Node) -> ScalarEvent | None:
    """The `name:` value of a mapping (an item of `ovens:`, a recipe), if it is plain text."""
    if item.__class__ is not _Map:
        return None
    items = item.items
    for k in range(0, len(items), 2):
        key, value = items[k], items[k + 1]
        if key.__class__ is ScalarEvent and key.value == "name":
            if value.__class__ is ScalarEvent and value.value and not _is_null(value):
                return value
            return None
    return None


def _field_node(node: _Map, name: str) -> _Node:
    """The value of key `name` in a mapping read without errors (so the key is there, once)."""
    items = node.items
    for k in range(0, len(items), 2):
        if items[k].__class__ is ScalarEvent and items[k].value == name:
            return items[k + 1]
    raise KeyError(name)


def _key_name(key: _Node, keys: dict[str, Any], names: Collection[str] | None, ctx: _Context,
              prefix: str, meant: set[str] | None = None) -> str | None:
    """The field a key names, or None (reported) if it is not one, or not for the first time.

    `names`: the fields a mapping may have (None: any); `keys`: the keys met so far. `meant`
    collects the fields a reported key may have been meant as (a "did you mean" hint, or any
    field for a merge key): they are not reported missing too, one mistake being one line.
    """
    if key.__class__ is not ScalarEvent:
        if key.__class__ is not AliasEvent:
            ctx.error(key, "a field name must be plain text")
        return None
    name = key.value
    first = keys.get(name)
    if first is not None:
        # PyYAML would silently keep the last value.
        line, again = first.start_mark.line + 1, key.start_mark.line + 1
        at = f"line {line}"
        if line == again:
            at += f", column {first.start_mark.column + 1}"
        ctx.error(key, f"duplicate key {_quote(name)} (first at {at}, again at line {again}):"
                       " give each key once")
        return None
    keys[name] = key
    if name == "<<" and key.implicit[0]:
        ctx.error(key, "merge keys ('<<') are not supported: write the fields out in full")
        if meant is not None:
            meant.update(names or ())
        return None
    if names is None or name in names:
        return name
    import difflib  # only on this error path

    close = difflib.get_close_matches(name, list(names), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "expected one of: " + ", ".join(names)
    ctx.error(key, f"unknown field {_quote(prefix + name)} ({hint})")
    if close and meant is not None:
        meant.add(close[0])
    return None


def _read_mapping(node: _Map, fields: Mapping[str, Field], ctx: _Context,
                  label: str) -> tuple[dict[str, Any], dict[str, _Node]] | None:
    """The values of a mapping read by `fields`, defaults filled in, and the value nodes.

    None if anything is wrong (then it is reported). `label` names the mapping in messages
    ("" for the top of a file or an order: fields are then named by themselves).
    """
    prefix = label + "." if label else ""
    values: dict[str, Any] = {}
    nodes: dict[str, _Node] = {}
    keys: dict[str, Any] = {}
    meant: set[str] = set()  # fields a wrong key was probably meant as (see _key_name)
    ok = True
    items = node.items
    # This loop runs for every order: the common case (a known, new key) is tested inline.
    for k in range(0, len(items), 2):
        key = items[k]
        name = key.value if key.__class__ is ScalarEvent else None
        field = fields.get(name) if name not in keys else None
        if field is None:
            _key_name(key, keys, fields, ctx, prefix, meant)  # reports what is wrong with it
            ok = False
            continue
        keys[name] = key
        value = items[k + 1]
        if value.__class__ is ScalarEvent and (
                value.value in _NULL_TEXTS or value.tag is not None) and _is_null(value):
            if field.required:
                ctx.error(key, f"{prefix + name} needs a value")
                ok = False
            continue  # as if absent
        try:
            values[name] = field.read(value, prefix + name, ctx)
            nodes[name] = value
        except _Invalid as exc:
            ctx.error(exc.node, exc.message)
            ok = False
        except _Reported:
            ok = False
    if len(values) < len(fields):
        for name, field in fields.items():
            if name in values:
                continue
            if not field.required:
                values[name] = field.default
            elif name not in keys and name not in meant:
                ctx.error(node, f"missing required field {_quote(prefix + name)}")
                ok = False
    return (values, nodes) if ok else None


def _read_document(events: _Events, ctx: _Context, what: str) -> _Map:
    """A whole (small) document whose top is a mapping; `what` names the kind of file."""
    first = events.root()
    if first is None or _is_null(first):
        ctx.fatal(None, f"the file is empty: expected {what}")
    node = events.value(first, 1)
    events.finish()
    if node.__class__ is not _Map:
        ctx.fatal(node, f"expected {what}, got {_describe(node)}")
    return node


# ---------------------------------------------------------------------------------------------
# The tables. Their keys are the field names of the model class each one builds (a recipe's
# `oven:` fields are Recipe's own), so a new field is an entry here and a field there.

_NAME = _text()
_MINUTES = _number(0, MAX_MINUTES)
_TEMPERATURE = _number(MIN_TEMPERATURE_C, MAX_TEMPERATURE_C)
_RATE = _number(MIN_RATE_C_PER_MIN, 1_000_000)

#: one order of an orders file's `orders:` list
ORDER_FIELDS: dict[str, Field] = {
    "id": Field(_NAME, required=True),
    "recipe": Field(_NAME, required=True),
    "quantity": Field(_integer(1, MAX_QUANTITY), default=1),
    "due": Field(_due),
    "customer": Field(_text(empty=True, lines=True)),
    "priority": Field(_integer(-MAX_PRIORITY, MAX_PRIORITY), default=0),
}

INGREDIENT_FIELDS: dict[str, Field] = {
    "name": Field(_NAME, required=True),
    "quantity": Field(_number(0, MAX_INGREDIENT_QUANTITY, above=True), required=True),
    "unit": Field(_NAME, required=True),
}

#: a recipe's `oven:` mapping (Recipe's temperature_c and bake_minutes)
RECIPE_OVEN_FIELDS: dict[str, Field] = {
    "temperature_c": Field(_TEMPERATURE, required=True),
    "bake_minutes": Field(_number(0, MAX_MINUTES, above=True), required=True),
}

def _stage_name(node: _Node, label: str, ctx: _Context) -> str:
    """A rest's stage: a name of its own, not one the kitchen reports."""
    text = _NAME(node, label, ctx)
    if text in KITCHEN_STAGES:
        raise _Invalid(node, f"{label}: {_quote(text)} is one of the kitchen's own stages;"
                             " name the rest, e.g. 'proofing'")
    return text


#: `rest:` in a recipe's `steps:` (model.Rest)
REST_FIELDS: dict[str, Field] = {
    "minutes": Field(_MINUTES, required=True),
    "stage": Field(_stage_name, default="resting"),
}

#: `bake:` in a recipe's `steps:` (model.Bake)
BAKE_FIELDS: dict[str, Field] = {
    "temperature_c": Field(_TEMPERATURE, required=True),
    "minutes": Field(_number(0, MAX_MINUTES, above=True), required=True),
}

STEP_FIELDS: dict[str, Field] = {
    "rest": Field(_mapping(REST_FIELDS, Rest)),
    "bake": Field(_mapping(BAKE_FIELDS, Bake)),
}


def _step(node: _Node, label: str, ctx: _Context) -> Rest | Bake:
    """One item of `steps:`: a mapping with one key, `rest` or `bake`."""
    if node.__class__ is not _Map:
        _wrong(node, label, "a mapping with one key, rest or bake")
    got = _read_mapping(node, STEP_FIELDS, ctx, label)
    if got is None:
        raise _Reported
    steps = [step for step in got[0].values() if step is not None]
    if len(steps) != 1:
        raise _Invalid(node, f"{label} must have exactly one key, rest or bake")
    return steps[0]


RECIPE_FIELDS: dict[str, Field] = {
    "name": Field(_NAME, required=True),
    "ingredients": Field(_list_of(_mapping(INGREDIENT_FIELDS, Ingredient)), required=True),
    "mix_minutes": Field(_MINUTES, required=True),
    # one of: `oven:` (mix, then one bake) or `steps:` (the recipe's own process after mixing)
    "oven": Field(_mapping(RECIPE_OVEN_FIELDS)),
    "steps": Field(_list_of(_step)),
    # replaces the recipe of this name from an earlier source (recipebook.collect_recipes)
    "override": Field(_yes_no, default=False),
}

#: one oven of a bakery file's `ovens:` list
OVEN_FIELDS: dict[str, Field] = {
    "name": Field(_NAME, required=True),
    "max_temperature_c": Field(_TEMPERATURE, default=DEFAULT_MAX_TEMPERATURE_C),
    "preheat_c_per_min": Field(_RATE, default=DEFAULT_PREHEAT_C_PER_MIN),
    "cool_c_per_min": Field(_RATE, default=DEFAULT_COOL_C_PER_MIN),
}

BAKERY_FIELDS: dict[str, Field] = {
    "ambient_c": Field(_TEMPERATURE, default=DEFAULT_AMBIENT_C),
    "mixers": Field(_integer(1, MAX_MIXERS)),  # absent or null: no limit
    "ovens": Field(_ovens),  # absent: the default ovens
}


# ---------------------------------------------------------------------------------------------
# The loaders


def load_orders(path: str | Path, *, start: datetime | None = None,
                warnings: list[InputError] | None = None) -> list[Order]:
    """The orders of an orders file, in file order; dates in `due` count from `start` (now).
    A due date-time before `start` is allowed, and added to `warnings` if given.

    Streams the file: memory grows with the orders kept, not with the YAML.
    """
    start = (start or datetime.now()).astimezone()
    ctx = _Context(str(path), start)
    if warnings is not None:
        ctx.warnings = warnings
    return _reading(ctx, path, lambda events: _read_orders(events, ctx)) or []


def _read_orders(events: _Events, ctx: _Context) -> list[Any]:
    """The orders of the file: Orders, or with `ctx.requests` (Where, body) pairs."""
    first = events.root()
    what = "'orders:' and a list of orders"
    if first is None or _is_null(first):
        ctx.fatal(None, f"the file is empty: expected {what}")
    if first.__class__ is not MappingStartEvent:
        got = "a list" if first.__class__ is SequenceStartEvent else _describe(first)
        ctx.fatal(first, f"expected {what}, got {got}")
    events.begin(first, 1)
    keys: dict[str, Any] = {}
    meant: set[str] = set()
    orders: list[Any] = []
    while True:
        event = events.next()
        if event.__class__ is MappingEndEvent:
            break
        name = _key_name(events.value(event, 2), keys, ("orders",), ctx, "", meant)
        value = events.next()
        if name is not None and value.__class__ is not SequenceStartEvent:
            got = "a mapping" if value.__class__ is MappingStartEvent else _describe(value)
            hint = " (write 'orders: []' for none)" if _is_null(value) else ""
            ctx.error(value, f"orders must be a list of orders, got {got}{hint}")
            name = None
        if name is None:
            events.skip(value, 2)
        else:
            orders = _read_order_list(events, value, ctx)
    events.finish()
    if "orders" not in keys and "orders" not in meant:
        ctx.error(first, "missing required field 'orders'")
    return orders


def _read_order_list(events: _Events, first: Any, ctx: _Context) -> list[Any]:
    """The orders of the `orders:` list that starts with event `first`, one item at a time."""
    events.begin(first, 2)
    orders: list[Any] = []
    first_line: dict[str, int] = {}  # order id -> line
    shared: dict[str, str] = {}  # one str per recipe name and customer, not one per order
    path, requests = ctx.path, ctx.requests
    next_event, compose = events.next, events.value
    while True:
        event = next_event()
        if event.__class__ is SequenceEndEvent:
            return orders
        item = compose(event, 3)
        if item.__class__ is not _Map:
            if item.__class__ is not AliasEvent:
                ctx.error(item, "each order must be a mapping of fields (id: ..., recipe: ...),"
                                f" got {_describe(item)}")
            continue
        got = _read_mapping(item, ORDER_FIELDS, ctx, "")
        if got is None:
            continue
        values, nodes = got
        known = len(first_line)
        seen = first_line.setdefault(values["id"], nodes["id"].start_mark.line + 1)
        if len(first_line) == known:  # one lookup on the common path, not two
            ctx.error(nodes["id"], f"duplicate order id {_quote(values['id'])}"
                                   f" (first at line {seen})")
            continue
        if requests:
            orders.append((ctx.where(item), _request(values, nodes)))
            continue
        recipe = values["recipe"]
        values["recipe"] = shared.setdefault(recipe, recipe)
        customer = values["customer"]
        if customer is not None:
            values["customer"] = shared.setdefault(customer, customer)
        mark = nodes["recipe"].start_mark
        orders.append(Order(**values, where=Where(path, mark.line + 1, mark.column + 1)))


def load_order_requests(path: str | Path, *, start: datetime | None = None,
                        warnings: list[InputError] | None = None,
                        ) -> list[tuple[Where, dict[str, Any]]]:
    """The orders of an orders file as the JSON bodies of `POST /orders`, each with where its
    order starts; checked exactly as `load_orders` checks them (same errors, same values).

    A body holds the fields given (not the defaults); `due` is minutes as written, or a
    date-time, given the local time zone if it had none: read as `load_orders` reads it, not
    in the server's time zone.
    """
    start = (start or datetime.now()).astimezone()
    ctx = _Context(str(path), start)
    ctx.requests = True
    if warnings is not None:
        ctx.warnings = warnings
    return _reading(ctx, path, lambda events: _read_orders(events, ctx)) or []


def _request(values: dict[str, Any], nodes: dict[str, _Node]) -> dict[str, Any]:
    """An order's body for the server: the fields given, as `_read_mapping` read them."""
    body = {name: values[name] for name in nodes}
    due = nodes.get("due")
    if due is not None:
        value = _scalar_value(due, "due")
        if value.__class__ is str:  # a date-time, already checked by _due_date
            when = datetime.fromisoformat(value.strip())
            body["due"] = (when if when.utcoffset() is not None else when.astimezone()).isoformat()
        else:
            body["due"] = value  # 120 stays 120: the idempotency key hashes the body
    return body


def load_recipe(path: str | Path, *, source: str | None = None) -> Recipe:
    """The recipe in a recipe file; its `source` is `source`, or the path."""
    ctx = _Context(str(path))
    named: list[str] = []  # the recipe's name, once known: a broken recipe is still defined

    def read(events: _Events) -> Recipe | None:
        node = _read_document(events, ctx, "a recipe (name:, ingredients:, mix_minutes:, oven:)")
        name = _oven_name_node(node)
        if name is not None:
            named.append(name.value)
        got = _read_mapping(node, RECIPE_FIELDS, ctx, "")
        if got is None:
            return None
        values = got[0]
        oven = values.pop("oven")  # its fields are the recipe's own in the model
        steps = values.pop("steps")
        if (oven is None) == (steps is None):
            ctx.error(node, "a recipe needs either 'oven:' (mix, then one bake) or 'steps:'"
                            " (its own process after mixing), not both")
            return None
        if steps is not None and not any(isinstance(step, Bake) for step in steps):
            ctx.error(_field_node(node, "steps"), "steps must include at least one bake")
            return None
        return Recipe(**values, **(oven or {}), steps=steps or (), source=source or str(path))

    try:
        return _reading(ctx, path, read, MAX_SMALL_FILE_BYTES)
    except InputErrors as exc:
        exc.unresolved.update(named)
        raise


def name_where(path: str | Path, key: str = "name") -> Where:
    """Where the top-level `name:` (or `key:`) value of a small YAML file is (a recipe's
    name), or just the path when that cannot be told. For messages about a file that already
    loaded."""
    try:
        with _open_file(path, _Context(str(path)), MAX_SMALL_FILE_BYTES) as stream:
            node = yaml.compose(stream, Loader=_Loader)
    except (_Stop, yaml.YAMLError, OSError):
        return Where(str(path))
    if isinstance(node, yaml.MappingNode):
        for found, value in node.value:
            if isinstance(found, ScalarNode) and found.value == key:
                return Where(str(path), value.start_mark.line + 1, value.start_mark.column + 1)
    return Where(str(path))


def load_bakery(path: str | Path) -> Bakery:
    """The bakery a bakery file describes; absent fields take the defaults of FORMATS.md."""
    ctx = _Context(str(path))

    def read(events: _Events) -> Bakery | None:
        node = _read_document(events, ctx, "a bakery (ambient_c:, mixers:, ovens:)")
        got = _read_mapping(node, BAKERY_FIELDS, ctx, "")
        if got is None:
            return None
        values = got[0]
        values["ovens"] = values["ovens"] or Bakery.default().ovens
        return Bakery(**values)

    return _reading(ctx, path, read, MAX_SMALL_FILE_BYTES)


def load_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A small YAML file whose top is a mapping, as plain Python values, with no schema.

    As safe as the loaders above (no anchors, aliases, merge keys or unusual tags; duplicate
    keys and deep nesting are errors) and with the same InputErrors. Scalars follow the YAML
    1.1 safe rules, except that dates stay text; keys are always text.
    """
    ctx = _Context(str(path))

    def plain(node: _Node) -> Any:
        if node.__class__ is _Map:
            out: dict[str, Any] = {}
            keys: dict[str, Any] = {}
            items = node.items
            for k in range(0, len(items), 2):
                name = _key_name(items[k], keys, None, ctx, "")
                if name is not None:
                    out[name] = plain(items[k + 1])
            return out
        if node.__class__ is _Seq:
            return [plain(item) for item in node.items]
        if node.__class__ is ScalarEvent:
            try:
                return _typed(node, "value")
            except _Invalid as exc:
                ctx.error(exc.node, exc.message)
        return None

    return _reading(ctx, path, lambda events: plain(_read_document(events, ctx, "a mapping")),
                    MAX_SMALL_FILE_BYTES)


# ---------------------------------------------------------------------------------------------
# Checks across files


def check_orders(orders: list[Order], recipes: Mapping[str, Recipe], bakery: Bakery | None, *,
                 unresolved: Collection[str] = ()) -> None:
    """Check that every order's recipe is known, and that some oven is hot enough for it.

    Each problem is reported at the order's `recipe` field. With `bakery` None (it failed to
    load) only the names are checked; names in `unresolved` (defined, but they failed to load,
    which is reported already) are not checked at all.
    """
    errors: list[InputError] = []
    problems: dict[str, str | None] = {}  # recipe name -> what is wrong with it, or None
    for order in orders:
        name = order.recipe
        if name not in problems:
            problems[name] = None if name in unresolved else _recipe_problem(
                name, recipes, bakery, unresolved)
        problem = problems[name]
        if problem is None:
            continue
        errors.append(InputError(order.where or Where(f"order {order.id!r}"), problem))
        if len(errors) >= MAX_ERRORS:
            errors.append(InputError(Where(errors[0].where.path), _TOO_MANY))
            break
    if errors:
        raise InputErrors(errors)


def _recipe_problem(name: str, recipes: Mapping[str, Recipe], bakery: Bakery | None,
                    unresolved: Collection[str] = ()) -> str | None:
    recipe = recipes.get(name)
    if recipe is None:
        import difflib  # only on this error path

        names = sorted({*recipes, *unresolved})
        close = difflib.get_close_matches(name, names, n=1)
        if close:
            return f"unknown recipe {_quote(name)} (did you mean {close[0]!r}?)"
        known = ", ".join(names[:10]) or "none"
        if len(names) > 10:  # the list is cut short: say so, with `bakectl recipes` for all
            known += f" and {len(names) - 10} more: see bakectl recipes"
        return f"unknown recipe {_quote(name)} (known recipes: {known})"
    if bakery is None:
        return None
    if not bakery.ovens:
        return "the bakery has no ovens"
    hottest = max(bakery.ovens, key=lambda oven: oven.max_temperature_c)
    if recipe.hottest_c > hottest.max_temperature_c:  # every bake of its steps must fit
        return (f"recipe {_quote(name)} bakes at {recipe.hottest_c:g} °C, hotter than any"
                f" oven (the hottest, {hottest.name!r}, reaches"
                f" {hottest.max_temperature_c:g} °C)")
    return None
