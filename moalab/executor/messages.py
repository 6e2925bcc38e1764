"""The wire protocol's messages as types, used by both ends.

Each message is a slotted dataclass; on the wire it is the msgpack map
:meth:`to_wire` makes (see :mod:`moalab.executor.session` for the protocol):
requests ``{"op": "call", "id": ..., ...}``, replies ``{id, ok}``, ``{id, error}``,
``{id, items}``, ``{id, end: true}``, and ``{"op": "update", ...}``, ``{"op": "pong"}``.
:func:`parse_request` and :func:`parse_reply` turn a decoded map back into its
type, checking each field's type (a :class:`ProtocolError` names the field, the
bad value and what is accepted). :func:`json_schema` describes a message's fields,
for the server's OpenAPI document.
"""

import reprlib
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from .errors import ProtocolError

__all__ = ("RequestId", "Message", "Call", "Gen", "Credit", "Cancel", "Create", "Delete",
           "List", "Echo", "Ping", "Ok", "Failed", "Items", "End", "Update", "Pong",
           "Request", "Reply", "REQUESTS", "CALL_BODY", "BATCH_CALL", "CREATE_BODY",
           "parse_request", "parse_reply", "parse_fields", "parse_body", "reply_id",
           "json_schema")

RequestId = int | str | None
"""A request's id, chosen by the client; None: a request nobody waits for the answer of."""

_SHORT = reprlib.Repr()  # a bad value in a message, abbreviated (a client may send megabytes)
_SHORT.maxstring = _SHORT.maxother = 40


_is_str = str.__instancecheck__


class Message:
    """Base of the message types: the wire form, and the fields' checks."""

    __slots__ = ()
    op: ClassVar[str | None] = None
    """The request's ``op`` on the wire (None for a reply)."""
    _mark: ClassVar[dict[str, Any]] = {}
    """Constant entries of the wire map (a request's: its ``op``, set by ``_message``)."""
    _spec: ClassVar[tuple["_Field", ...]] = ()
    _checks: ClassVar[tuple[tuple[str, Any, bool, "_Field"], ...]] = ()  # _spec, for parsing

    def to_wire(self) -> dict[str, Any]:
        """The msgpack map of this message, as :func:`parse_request` / :func:`parse_reply`
        read it."""
        wire = dict(self._mark)
        for spec in self._spec:
            wire[spec.name] = getattr(self, spec.name)
        return wire


# ------------------------------------------------------------------ field kinds


class _Field:
    """How one field of a message type is checked and described."""

    __slots__ = ("name", "types", "what", "schema", "str_keys", "default", "factory",
                 "checked", "doc")

    def __init__(self, name: str, annotation: Any, default: Any, factory: Any,
                 metadata: Any) -> None:
        self.name = name
        self.types, self.what, self.schema = _kind(annotation)
        self.str_keys = typing.get_origin(annotation) is dict
        self.default, self.factory = default, factory
        # a field another part checks with messages of its own (the registry: a name, a
        # class path) is passed on as it is
        self.checked = metadata.get("checked", True)
        self.doc = metadata.get("doc")
        if "example" in metadata:
            self.schema = {**self.schema, "example": metadata["example"]}


def _kind(annotation: Any) -> tuple[tuple[type, ...] | None, str, dict[str, Any]]:
    """The Python types accepted, their words for messages, and their JSON schema."""
    if annotation is Any:
        return None, "any value", {}
    if annotation == RequestId:
        return (int, str, type(None)), "an integer or a string", {
            "oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": True}
    if annotation == int | str:
        return (int, str), "an integer or a string", {
            "oneOf": [{"type": "integer"}, {"type": "string"}]}
    origin = typing.get_origin(annotation) or annotation
    kinds = {str: ("a string", "string"), int: ("an integer", "integer"),
             bool: ("a boolean", "boolean"), list: ("a list", "array"),
             dict: ("a map of names (strings) to values", "object")}
    what, json_type = kinds[origin]
    return (origin,), what, {"type": json_type}


def _message(cls: type) -> type:
    """Make ``cls`` a slotted dataclass message and compile its fields' checks."""
    cls = dataclass(slots=True)(cls)
    if cls.op is not None and "_mark" not in vars(cls):
        cls._mark = {"op": cls.op}  # a request's wire map starts with its op
    hints = typing.get_type_hints(cls)
    cls._spec = tuple(
        _Field(f.name, hints[f.name], f.default, f.default_factory, f.metadata)
        for f in fields(cls))
    cls._checks = tuple((spec.name, spec.types if spec.checked else None,
                         spec.str_keys and spec.checked, spec) for spec in cls._spec)
    return cls


def _doc(text: str, **more: Any) -> dict[str, Any]:
    return {"doc": text, **more}


_ARGS = _doc("positional arguments of the method")
_KWARGS = _doc("keyword arguments of the method, by name")


# ------------------------------------------------------------------ requests


@_message
class Call(Message):
    """Run exposed method ``method`` of object ``obj``; answered by :class:`Ok` or
    :class:`Failed`."""

    op = "call"
    id: int | str
    obj: str = field(metadata=_doc("the object's name in the client's namespace"))
    method: str = field(metadata=_doc("a method exposed with apply_executor"))
    args: list = field(default_factory=list, metadata=_ARGS)
    kwargs: dict[str, Any] = field(default_factory=dict, metadata=_KWARGS)


@_message
class Gen(Message):
    """Stream generator method ``method`` of ``obj``: :class:`Items` batches, then
    :class:`End` (or :class:`Failed`); at most ``credit`` items before more credit."""

    op = "gen"
    id: int | str
    obj: str = field(metadata=_doc("the object's name in the client's namespace"))
    method: str = field(metadata=_doc("a method exposed with apply_generator_executor"))
    args: list = field(default_factory=list, metadata=_ARGS)
    kwargs: dict[str, Any] = field(default_factory=dict, metadata=_KWARGS)
    credit: int = field(default=64, metadata=_doc("items the client is ready to take"))


@_message
class Credit(Message):
    """The client read ``n`` more items of stream ``id``; never answered."""

    op = "credit"
    id: RequestId
    n: int = field(metadata=_doc("items read"))


@_message
class Cancel(Message):
    """Cancel call or stream ``id``; never answered."""

    op = "cancel"
    id: RequestId


@_message
class Create(Message):
    """Create object ``name`` of class ``cls`` in the client's namespace, or attach to
    the existing one; answered with ``{created, props, seq}``."""

    op = "create"
    id: RequestId
    # checked by the registry, whose messages say what a name and a class path are
    name: str = field(metadata=_doc("the object's name", checked=False))
    cls: str = field(metadata=_doc("the class, as 'module:QualName'", checked=False,
                                   example="moalab.device.virtual:VirtualDigitalChannel"))
    kwargs: dict[str, Any] = field(default_factory=dict, metadata=_doc(
        "constructor arguments: declared properties and constructor parameters"))


@_message
class Delete(Message):
    """Delete object ``name`` of the client's namespace; answered with ``ok: None``."""

    op = "delete"
    id: RequestId
    name: str = field(metadata=_doc("the object's name"))


@_message
class List(Message):
    """List the objects of every namespace."""

    op = "list"
    id: RequestId


@_message
class Echo(Message):
    """Clock echo: answered with ``[received, sent]`` on the far side's clock."""

    op = "echo"
    id: RequestId


@_message
class Ping(Message):
    """Heartbeat: answered by :class:`Pong`."""

    op = "ping"


Request = Call | Gen | Credit | Cancel | Create | Delete | List | Echo | Ping

REQUESTS: dict[str, type[Message]] = {
    cls.op: cls for cls in (Call, Gen, Credit, Cancel, Create, Delete, List, Echo, Ping)}
"""The request types by their wire ``op``."""


# ------------------------------------------------------------ from the far side


@_message
class Ok(Message):
    """A request's result."""

    id: RequestId
    ok: Any


@_message
class Failed(Message):
    """A request's error: the map :func:`~moalab.executor.codec.encode_exception` makes."""

    id: RequestId
    error: dict[str, Any]


@_message
class Items(Message):
    """A batch of a stream's items."""

    id: RequestId
    items: list


@_message
class End(Message):
    """The end of a stream."""

    _mark = {"end": True}
    id: RequestId


@_message
class Update(Message):
    """Property changes of a watched object (``event``: it dispatched on_data_update)."""

    _mark = {"op": "update"}
    obj: str
    seq: int
    props: dict[str, Any]
    event: bool


@_message
class Pong(Message):
    """The answer to a :class:`Ping`."""

    _mark = {"op": "pong"}


Reply = Ok | Failed | Items | End | Update | Pong


# -------------------------------------------------------------------- parsing


def parse_fields(cls: type[Message], value: dict, what: str) -> Message:
    """A ``cls`` from the map ``value``, each field checked; ``what`` names the message in
    errors (e.g. "call request"). Raises :class:`ProtocolError`."""
    values = []
    get = value.get
    # on every call's path: plain tuples, one dict lookup and one isinstance a field
    for name, types, str_keys, spec in cls._checks:
        item = get(name, MISSING)
        if item is MISSING or types is not None and not isinstance(item, types) or (
                str_keys and item and not all(map(_is_str, item))):
            item = _refuse_or_default(spec, item, what)
        values.append(item)
    return cls(*values)


def _refuse_or_default(spec: _Field, item: Any, what: str) -> Any:
    """The default of a missing field, or the :class:`ProtocolError` for a bad one."""
    if item is MISSING:
        if spec.factory is not MISSING:
            return spec.factory()
        if spec.default is not MISSING:
            return spec.default
        if not spec.checked or spec.name == "id" and type(None) in spec.types:
            return None  # the registry checks it; an id: nobody waits for the answer
    if spec.name == "id" and item in (MISSING, None):
        raise ProtocolError(f"a {what} needs an id to be answered by")
    if item is MISSING:
        raise ProtocolError(f"field {spec.name!r} of a {what} is missing: give {spec.what}")
    raise ProtocolError(f"field {spec.name!r} of a {what} must be {spec.what}, not "
                        f"{_SHORT.repr(item)}")


CALL_BODY = ("args", "kwargs")
"""The fields of a :class:`Call` or :class:`Gen` a REST request's body holds (its path
names the object and the method)."""

BATCH_CALL = ("obj", "method", *CALL_BODY)
"""The fields of a :class:`Call` each item of a REST batch request holds (its index in
the batch is its id)."""

CREATE_BODY = ("name", "cls", "kwargs")
"""The fields of a :class:`Create` a REST request's body holds."""


def parse_body(cls: type[Message], body: dict, body_fields: tuple[str, ...],
               **given: Any) -> Message:
    """A ``cls`` from a REST request: the fields ``body_fields`` of its JSON ``body``
    (others are ignored), and those ``given`` by its path; checked as
    :func:`parse_fields` does."""
    value = {key: body[key] for key in body_fields if key in body}
    return parse_fields(cls, {**value, **given}, f"{cls.op} request")


def reply_id(value: Any) -> RequestId:
    """The id a reply to the request ``value`` names: its own if it is a valid one, else None."""
    request_id = value.get("id") if isinstance(value, dict) else None
    return request_id if isinstance(request_id, int | str) else None


def parse_request(value: Any) -> Request:
    """The request the decoded map ``value`` is; raises :class:`ProtocolError` for
    anything else (not a map, a bad id, an unknown op, a field of the wrong type)."""
    if not isinstance(value, dict):
        raise ProtocolError(f"a request must be a map, not {type(value).__name__}")
    request_id = value.get("id")
    if not isinstance(request_id, int | str | None):
        raise ProtocolError(f"a request id must be an integer or a string, not "
                            f"{_SHORT.repr(request_id)}")
    op = value.get("op")
    cls = REQUESTS.get(op) if isinstance(op, str) else None
    if cls is None:
        raise ProtocolError(f"unknown op {_SHORT.repr(op)}: use {', '.join(REQUESTS)}")
    return parse_fields(cls, value, f"{op} request")


def parse_reply(value: Any) -> Reply:
    """The message from the far side the decoded map ``value`` is; raises
    :class:`ProtocolError` for anything else."""
    if not isinstance(value, dict):
        raise ProtocolError(f"a reply must be a map, not {type(value).__name__}")
    op = value.get("op")
    if op == "update":
        return parse_fields(Update, value, "update")
    if op == "pong":
        return Pong()
    if op is not None:
        raise ProtocolError(f"unknown op {_SHORT.repr(op)} from the far side: it sends "
                            "update or pong")
    for key, cls in (("ok", Ok), ("error", Failed), ("items", Items), ("end", End)):
        if key in value:
            return parse_fields(cls, value, "reply")
    raise ProtocolError(f"a reply must hold one of ok, error, items or end, not "
                        f"{_SHORT.repr(sorted(map(str, value)))}")


def json_schema(cls: type[Message], only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON schema of ``cls``'s wire map, or of the fields ``only`` (a REST body)."""
    properties, required = {}, []
    for spec in cls._spec:
        if only is not None and spec.name not in only:
            continue
        schema = dict(spec.schema)
        if spec.doc:
            schema["description"] = spec.doc
        if spec.default is not MISSING:
            schema["default"] = spec.default
        properties[spec.name] = schema
        if spec.default is MISSING and spec.factory is MISSING:
            required.append(spec.name)
    if only is None:
        properties = {**{key: {"enum": [value]} for key, value in cls._mark.items()},
                      **properties}
        required = [*cls._mark, *required]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if cls.__doc__ and only is None:
        schema["description"] = " ".join(cls.__doc__.split())
    return schema
