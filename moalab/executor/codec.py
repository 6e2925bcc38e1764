"""The wire codec: msgpack frames, numpy arrays without copies, exceptions by type.

Frames are msgpack maps. numpy arrays travel as an extension type holding the
dtype, the shape and the raw buffer; decoding wraps the received bytes with
``np.frombuffer`` (no copy; the array is read only). Tuples arrive as lists.
"""

import builtins
import sys
import traceback
from typing import Any

import msgpack
import numpy as np

from .errors import ProtocolError, RemoteError

__all__ = ("encode", "decode", "decode_many", "join_frames", "BURST_BYTES", "encode_exception", "decode_exception", "to_jsonable")

_NDARRAY = 1


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("numpy arrays of Python objects cannot be sent; use a numeric dtype")
        # the shape of obj itself: ascontiguousarray makes a 0-d array 1-d; the bytes
        # as a flat uint8 view, which also covers zero-size and datetime64 arrays
        flat = np.ascontiguousarray(obj).reshape(-1).view(np.uint8)
        header = msgpack.packb((_dtype_descr(obj.dtype), obj.shape))
        return msgpack.ExtType(_NDARRAY, header + flat.data)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, int):
        raise OverflowError(f"cannot send the integer {obj}: msgpack carries integers from "
                            "-2**63 to 2**64-1; send a float or a string")
    raise TypeError(
        f"cannot send a {type(obj).__module__}.{type(obj).__qualname__} to the far side: send "
        "numbers, strings, bytes, lists, dicts, None or numpy arrays"
    )


def _dtype_descr(dtype: np.dtype) -> Any:
    # a structured dtype's str is only '|V<size>': its fields travel as numpy's descr
    return np.lib.format.dtype_to_descr(dtype) if dtype.names else dtype.str


def _ext_hook(code: int, data: bytes) -> Any:
    if code != _NDARRAY:
        return msgpack.ExtType(code, data)
    unpacker = msgpack.Unpacker(use_list=False, raw=False)
    unpacker.feed(data)
    descr, shape = unpacker.unpack()
    offset = unpacker.tell()
    view = memoryview(data)[offset:]
    dtype = np.lib.format.descr_to_dtype(_descr_lists(descr))
    # np.frombuffer refuses dtypes holding Python objects: raw bytes never become pointers
    return np.frombuffer(view, dtype=dtype).reshape(shape)


def _descr_lists(descr: Any) -> Any:
    # msgpack sends numpy's descr (a list of field tuples) as nested tuples; a
    # field's name may be a (title, name) tuple
    if isinstance(descr, str):
        return descr
    return [(field[0], _descr_lists(field[1]), *field[2:]) for field in descr]


_packer_options = {"default": _default, "use_bin_type": True, "datetime": False}


def encode(message: Any) -> bytes:
    """Encode a message to one frame."""
    return msgpack.packb(message, **_packer_options)


def decode(frame: bytes) -> Any:
    """Decode a frame holding one message; raise :class:`ProtocolError` if it is not
    valid msgpack."""
    try:
        return msgpack.unpackb(frame, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except Exception as exc:
        raise ProtocolError(f"undecodable frame ({type(exc).__name__}: {exc})") from None


def decode_many(frame: bytes) -> list[Any]:
    """Decode a frame holding one or more messages (encoded frames joined end to end,
    as a transport may send them); raise :class:`ProtocolError` if it is not valid,
    including when it ends inside a message."""
    unpacker = msgpack.Unpacker(ext_hook=_ext_hook, raw=False, strict_map_key=False,
                                max_buffer_size=max(len(frame), 1))
    messages = []
    end = 0  # where the last whole message ended
    try:
        unpacker.feed(frame)
        for message in unpacker:
            messages.append(message)
            end = unpacker.tell()
    except Exception as exc:
        raise ProtocolError(f"undecodable frame ({type(exc).__name__}: {exc})") from None
    if not messages:
        raise ProtocolError("empty frame" if not frame else
                            f"undecodable frame: its {len(frame)} bytes end inside a message")
    if end != len(frame):
        # a message cut short after whole ones: refuse the frame, not drop its tail unseen
        raise ProtocolError(f"undecodable frame: it ends inside a message (the last "
                            f"{len(frame) - end} of {len(frame)} bytes)")
    return messages


BURST_BYTES = 1 << 20
"""Frames are joined into transport messages of about this size at most."""


def join_frames(frames: list[bytes], limit: int = BURST_BYTES) -> list[bytes]:
    """Join frames end to end into messages of at most ``limit`` bytes (a larger frame
    alone), for transports whose messages can hold several (see :func:`decode_many`)."""
    messages: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for frame in frames:
        if group and size + len(frame) > limit:
            messages.append(b"".join(group))
            group, size = [], 0
        group.append(frame)
        size += len(frame)
    if group:
        messages.append(b"".join(group))
    return messages


def _type_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """Describe ``exc`` for the far side: type path, message, args and traceback text."""
    args: list[Any] = []
    for arg in exc.args:
        if isinstance(arg, (str, int, float, bool, type(None))):
            args.append(arg)
        else:
            args = [str(exc)]
            break
    return {
        "type": _type_path(type(exc)),
        "message": str(exc),
        "args": args,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _find_type(path: str) -> type | None:
    module_name, _, qualname = path.rpartition(".")
    # only modules already imported here: a reply never makes the client import code
    module = sys.modules.get(module_name) if module_name != "builtins" else builtins
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, Exception):
        return obj
    return None


def decode_exception(info: Any) -> Exception:
    """Rebuild an exception from :func:`encode_exception`'s description.

    The original type is used when it is already imported here and accepts the
    original args; otherwise a :class:`RemoteError`. Either carries
    ``remote_traceback`` and a note with the remote traceback.
    """
    if not isinstance(info, dict):
        return RemoteError(f"malformed remote error: {info!r}")
    path = str(info.get("type", ""))
    message = str(info.get("message", ""))
    remote_tb = str(info.get("traceback", ""))
    cls = _find_type(path)
    exc: Exception | None = None
    if cls is not None:
        try:
            exc = cls(*info.get("args", [message]))
        except Exception:
            exc = None
    if exc is None:
        exc = RemoteError(f"{path}: {message}", path, remote_tb)
    exc.remote_traceback = remote_tb  # type: ignore[attr-defined]
    exc.add_note(f"Raised on the far side:\n{remote_tb.rstrip()}")
    return exc


def to_jsonable(value: Any) -> Any:
    """Turn a value into JSON-compatible data (numpy arrays become lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value
