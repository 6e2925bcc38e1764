"""The wire codec: msgpack frames, numpy arrays with one copy, exceptions by type.

Frames are msgpack maps. A numpy array travels as an extension holding its
dtype, shape and size; the array's bytes follow the message, all of a
message's arrays in one msgpack ``bin`` (so a frame is still a sequence of
msgpack objects). Encoding copies each array once (into the frame); decoding
wraps the received frame with ``np.frombuffer`` (no copy; the array is read
only when the frame is ``bytes``). Tuples arrive as lists.
"""

import builtins
import functools
import struct
import sys
import traceback
from typing import Any

import msgpack
import numpy as np

from .errors import ProtocolError, RemoteError

__all__ = ("encode", "encode_parts", "decode", "decode_many", "Frame", "frame_size",
           "frame_bytes", "MAX_FRAME_MESSAGES", "MEDIA_TYPE", "encode_exception", "decode_exception", "to_jsonable")

MEDIA_TYPE = "application/x-msgpack"
"""The HTTP media type of moalab frames."""

_NDARRAY = 1
_BIN32 = struct.Struct(">BI")  # a msgpack bin 32 header: 0xc6, then the length
_BIN32_CODE = 0xC6


def _array_bytes(obj: np.ndarray) -> memoryview:
    if obj.dtype.hasobject:
        raise TypeError("numpy arrays of Python objects cannot be sent; use a numeric dtype")
    # the bytes as a flat uint8 view, which also covers 0-d, zero-size and datetime64 arrays
    return np.ascontiguousarray(obj).reshape(-1).view(np.uint8).data


def _default_collecting(payloads: list[memoryview]) -> Any:
    def default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            data = _array_bytes(obj)
            payloads.append(data)
            return msgpack.ExtType(
                _NDARRAY, msgpack.packb((_dtype_descr(obj.dtype), obj.shape, data.nbytes)))
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, (set, frozenset)):
            return list(obj)
        if isinstance(obj, int):
            raise OverflowError(f"cannot send the integer {obj}: msgpack carries integers from "
                                "-2**63 to 2**64-1; send a float or a string")
        raise TypeError(
            f"cannot send a {type(obj).__module__}.{type(obj).__qualname__} to the far side: "
            "send numbers, strings, bytes, lists, dicts, None or numpy arrays"
        )
    return default


def _dtype_descr(dtype: np.dtype) -> Any:
    # a structured dtype's str is only '|V<size>': its fields travel as numpy's descr
    return np.lib.format.dtype_to_descr(dtype) if dtype.names else dtype.str


@functools.lru_cache(maxsize=256)
def _dtype(descr: Any) -> np.dtype:
    return np.lib.format.descr_to_dtype(_descr_lists(descr))


def _descr_lists(descr: Any) -> Any:
    # msgpack sends numpy's descr (a list of field tuples) as nested tuples; a
    # field's name may be a (title, name) tuple
    if isinstance(descr, str):
        return descr
    return [(field[0], _descr_lists(field[1]), *field[2:]) for field in descr]


class _ArrayRef:
    """An array announced in a message; its bytes come after the message."""

    __slots__ = ("dtype", "shape", "nbytes", "array")

    def __init__(self, data: bytes) -> None:
        descr, shape, nbytes = msgpack.unpackb(data, use_list=False)
        # np.frombuffer refuses dtypes holding Python objects: raw bytes never become pointers
        self.dtype = _dtype(descr)
        self.shape = tuple(shape)
        self.nbytes = nbytes
        if not isinstance(nbytes, int) or nbytes < 0:
            raise ValueError(f"bad array size {nbytes!r}")
        self.array: np.ndarray | None = None


Frame = bytes | list[bytes | memoryview]
"""An encoded message: bytes, or its parts (the message, then its arrays' bytes as
they lie in memory) for a transport that can send buffers without joining them."""


def encode_parts(message: Any) -> Frame:
    """Encode a message; one with arrays comes as parts, its arrays not copied (they
    must not change until the frame is sent)."""
    try:  # the common message, of values msgpack packs itself: the same bytes, sooner
        return msgpack.packb(message, use_bin_type=True, datetime=False)
    except Exception:
        pass  # arrays or other values of ours, or one that cannot travel: said below
    payloads: list[memoryview] = []
    packed = msgpack.packb(message, default=_default_collecting(payloads), use_bin_type=True,
                           datetime=False)
    if not payloads:
        return packed
    size = sum(data.nbytes for data in payloads)
    return [packed, _BIN32.pack(_BIN32_CODE, size), *payloads]


def encode(message: Any) -> bytes:
    """Encode a message to one frame."""
    return frame_bytes(encode_parts(message))


def frame_size(frame: Frame) -> int:
    """The frame's length in bytes."""
    return len(frame) if isinstance(frame, bytes) else sum(map(len, frame))


def frame_bytes(frame: Frame) -> bytes:
    """The frame as one bytes object (its parts joined: one copy)."""
    return frame if isinstance(frame, bytes) else b"".join(frame)


def decode(frame: bytes) -> Any:
    """Decode a frame holding one message; raise :class:`ProtocolError` if it is not
    valid, or holds more than one message."""
    messages = decode_many(frame)
    if len(messages) != 1:
        raise ProtocolError(f"undecodable frame: {len(messages)} messages where one was expected")
    return messages[0]


MAX_FRAME_MESSAGES = 4096
"""Most messages one joined frame may hold where a server decodes it (see
:func:`decode_many`); :func:`~moalab.executor.batching.join_frames` never joins
more."""


def decode_many(frame: bytes, max_messages: int | None = None) -> list[Any]:
    """Decode a frame holding one or more messages (encoded frames joined end to end,
    as a transport may send them); raise :class:`ProtocolError` if it is not valid,
    including when it ends inside a message, or when it holds more than
    ``max_messages`` (None: no limit; decoding stops at the first one past it)."""
    try:  # the common frame, one message without arrays: decoded in one call
        return [msgpack.unpackb(frame, ext_hook=_no_array, raw=False, strict_map_key=False)]
    except Exception:
        pass  # arrays, more messages, or not valid: the path below handles it or says why
    refs: list[_ArrayRef] = []
    unpacker = msgpack.Unpacker(ext_hook=lambda code, data: _ext_hook(code, data, refs),
                                raw=False, strict_map_key=False,
                                max_buffer_size=max(len(frame), 1))
    view = memoryview(frame)
    messages = []
    try:
        unpacker.feed(frame)
        while unpacker.tell() < len(frame):
            message = unpacker.unpack()
            if refs:
                message = _attach_arrays(message, refs, unpacker, view)
                refs.clear()
            messages.append(message)
            if max_messages is not None and len(messages) > max_messages:
                raise ProtocolError(
                    f"a frame of {len(frame)} bytes holds more than {max_messages} messages: "
                    f"join at most {max_messages} requests in one frame")
    except msgpack.OutOfData:
        raise ProtocolError("empty frame" if not frame else
                            f"undecodable frame: it ends inside a message (the last "
                            f"{len(frame) - unpacker.tell()} of {len(frame)} bytes)") from None
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"undecodable frame ({type(exc).__name__}: {exc})") from None
    if not messages:
        raise ProtocolError("empty frame")
    return messages


class _HasArrays(Exception):
    """A frame holds arrays: :func:`decode_many`'s general path decodes it."""


def _no_array(code: int, data: bytes) -> Any:
    if code == _NDARRAY:
        raise _HasArrays
    return msgpack.ExtType(code, data)


def _ext_hook(code: int, data: bytes, refs: list[_ArrayRef]) -> Any:
    if code != _NDARRAY:
        return msgpack.ExtType(code, data)
    ref = _ArrayRef(data)
    refs.append(ref)
    return ref


def _attach_arrays(message: Any, refs: list[_ArrayRef], unpacker: msgpack.Unpacker,
                   view: memoryview) -> Any:
    """The bytes of a message's arrays follow it in one bin: wrap them, zero copy."""
    start = unpacker.tell()
    header = _bin_header(view, start)
    if header is None:
        raise ProtocolError("undecodable frame: a message announces arrays, but their "
                            "bytes do not follow it")
    header_size, size = header
    if size != sum(ref.nbytes for ref in refs):
        raise ProtocolError(f"undecodable frame: its arrays announce "
                            f"{sum(ref.nbytes for ref in refs)} bytes, {size} follow")
    unpacker.skip()  # raises OutOfData when the bytes are cut short
    offset = start + header_size
    for ref in refs:
        ref.array = np.frombuffer(view[offset:offset + ref.nbytes], dtype=ref.dtype
                                  ).reshape(ref.shape)
        offset += ref.nbytes
    return _replace_refs(message)


_BIN_SIZES = {0xC4: 1, 0xC5: 2, 0xC6: 4}  # msgpack bin 8/16/32: bytes of the length


def _bin_header(view: memoryview, start: int) -> tuple[int, int] | None:
    """(header size, data size) of the msgpack bin at ``start``, or None if none is there."""
    length_size = _BIN_SIZES.get(view[start]) if start < len(view) else None
    if length_size is None or len(view) < start + 1 + length_size:
        return None
    return 1 + length_size, int.from_bytes(view[start + 1:start + 1 + length_size], "big")


def _replace_refs(value: Any) -> Any:
    if type(value) is _ArrayRef:
        return value.array
    if type(value) is list:
        for i, item in enumerate(value):
            if type(item) in (_ArrayRef, list, dict):
                value[i] = _replace_refs(item)
    elif type(value) is dict:
        if any(type(key) is _ArrayRef for key in value):
            raise ProtocolError("undecodable frame: an array cannot be a map key")
        for key, item in value.items():
            if type(item) in (_ArrayRef, list, dict):
                value[key] = _replace_refs(item)
    return value


def _type_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def encode_exception(exc: BaseException, with_traceback: bool = False) -> dict[str, Any]:
    """Describe ``exc`` for the far side: type path, message and args; its traceback
    text too when ``with_traceback`` (a server's traceback shows its files and code to
    whoever made the request, so servers send none unless told to)."""
    args: list[Any] = []
    for arg in exc.args:
        if isinstance(arg, (str, int, float, bool, type(None))):
            args.append(arg)
        else:
            args = [str(exc)]
            break
    info: dict[str, Any] = {"type": _type_path(type(exc)), "message": str(exc), "args": args}
    if with_traceback:
        info["traceback"] = "".join(traceback.format_exception(exc))
    return info


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
    ``remote_traceback`` ("" when the far side sent none) and a note saying it was
    raised on the far side, with the traceback when there is one.
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
    exc.add_note(f"Raised on the far side:\n{remote_tb.rstrip()}" if remote_tb.strip() else
                 "Raised on the far side (no traceback sent: a moalab-server keeps it in its "
                 "log, and sends it only when started with MOALAB_SERVER_DEBUG=1)")
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
