"""A TensorFlow V2 checkpoint (a "tensor bundle") read with the standard library and numpy, no TensorFlow.

The format, as TensorFlow's ``tensor_bundle`` writes it:

- ``<prefix>.index`` is a LevelDB-style sorted string table (SSTable): data blocks of key/value entries
  (keys prefix-compressed against the previous key, with restart points), an index block whose values are
  the data blocks' handles, a meta-index block, and a 48-byte footer (two block handles, padding, the magic
  number ``0xdb4775248b80fb57``). Every block is followed by one compression byte (0: none) and a CRC.
  The entry with the empty key is a ``BundleHeaderProto`` (shard count, endianness); every other key is a
  tensor's name and its value a ``BundleEntryProto`` (dtype, shape, shard, offset, size, CRC-32C).
- ``<prefix>.data-00000-of-00001`` holds the tensors' raw bytes, little-endian, at those offsets.

Both protobuf messages are decoded by hand (varints and length-delimited fields): a few dozen lines, where
``tensorflow`` is 1.3 GB. Anything unexpected (a sliced or multi-shard bundle, compressed blocks, a
big-endian bundle, an unknown dtype) is a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER = 5  # compression type (1 byte) + masked CRC-32C (4 bytes)
# TensorFlow's DataType enum -> numpy dtype (little-endian), for the types a checkpoint of floats holds.
DTYPES = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    19: np.dtype("<f2"),  # DT_HALF
}


class CheckpointError(ValueError):
    """The files are not a TensorFlow V2 checkpoint this reader understands."""


def read_checkpoint(prefix: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint at ``prefix`` (``<prefix>.index`` and its one data shard), by name,
    as numpy arrays with TensorFlow's dtype and shape."""
    prefix = str(prefix)
    index_path = Path(prefix + ".index")
    try:
        index = index_path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read {index_path}: {err.strerror or err}") from err
    entries = dict(_table_entries(index, index_path))
    header = _fields(entries.pop(b"", b""), index_path)
    shards = _scalar(header, 1, 1)
    if shards != 1:
        raise CheckpointError(
            f"{index_path}: {shards} data shards; only single-shard bundles are read"
        )
    if _scalar(header, 2, 0) != 0:
        raise CheckpointError(f"{index_path}: a big-endian bundle")
    data_path = Path(f"{prefix}.data-00000-of-00001")
    try:
        data = data_path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read {data_path}: {err.strerror or err}") from err
    tensors = {}
    for key, value in entries.items():
        name = key.decode("utf-8", "replace")
        fields = _fields(value, index_path)
        if 7 in fields:
            raise CheckpointError(f"{index_path}: tensor {name} is stored in slices")
        dtype_code = _scalar(fields, 1, 0)
        dtype = DTYPES.get(dtype_code)
        if dtype is None:
            raise CheckpointError(f"{index_path}: tensor {name} has unsupported dtype {dtype_code}")
        shape = _shape(fields.get(2, [b""])[-1], index_path)
        offset, size = _scalar(fields, 4, 0), _scalar(fields, 5, 0)
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size != expected or offset + size > len(data) or _scalar(fields, 3, 0) != 0:
            raise CheckpointError(
                f"{data_path}: tensor {name} ({size} bytes at {offset}) does not fit its shape "
                f"{tuple(shape)} or the file ({len(data)} bytes)"
            )
        array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=offset)
        tensors[name] = array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    return tensors


# ---- the table ---------------------------------------------------------------------------------------
def _table_entries(table: bytes, path: Path):
    """(key, value) of every data block, in key order."""
    if len(table) < FOOTER_SIZE or struct.unpack("<Q", table[-8:])[0] != TABLE_MAGIC:
        raise CheckpointError(f"{path} is not a TensorFlow checkpoint index (no table footer)")
    footer = table[-FOOTER_SIZE:-8]
    _meta_offset, position = _varint(footer, 0, path)  # the meta-index handle (unused)
    _meta_size, position = _varint(footer, position, path)
    index_offset, position = _varint(footer, position, path)
    index_size, position = _varint(footer, position, path)
    for _, handle in _block_entries(_block(table, index_offset, index_size, path), path):
        offset, position = _varint(handle, 0, path)
        size, _ = _varint(handle, position, path)
        yield from _block_entries(_block(table, offset, size, path), path)


def _block(table: bytes, offset: int, size: int, path: Path) -> bytes:
    if offset + size + BLOCK_TRAILER > len(table) - FOOTER_SIZE:
        raise CheckpointError(f"{path}: a block lies outside the file")
    if table[offset + size] != 0:
        raise CheckpointError(f"{path}: compressed blocks are not supported")
    return table[offset : offset + size]


def _block_entries(block: bytes, path: Path):
    """The entries of one block: each ``shared``, ``unshared``, ``value length`` (varints), the key's
    unshared tail and the value; the block ends with its restart offsets and their count (uint32s)."""
    if len(block) < 4:
        raise CheckpointError(f"{path}: a truncated block")
    restarts = struct.unpack("<I", block[-4:])[0]
    end = len(block) - 4 * (restarts + 1)
    if end < 0:
        raise CheckpointError(f"{path}: a block with a bad restart array")
    position, key = 0, b""
    while position < end:
        shared, position = _varint(block, position, path)
        unshared, position = _varint(block, position, path)
        length, position = _varint(block, position, path)
        if shared > len(key) or position + unshared + length > end:
            raise CheckpointError(f"{path}: a corrupt block entry")
        key = key[:shared] + block[position : position + unshared]
        position += unshared
        yield key, block[position : position + length]
        position += length


# ---- protobuf ----------------------------------------------------------------------------------------
def _varint(buffer: bytes, position: int, path: Path) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise CheckpointError(f"{path}: a truncated or overlong varint")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(message: bytes, path: Path) -> dict[int, list]:
    """A protobuf message's fields by number: varints as ints, length-delimited as bytes, fixed32 and
    fixed64 as ints. Unknown fields are kept (and ignored by the callers)."""
    fields: dict[int, list] = {}
    position = 0
    while position < len(message):
        tag, position = _varint(message, position, path)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(message, position, path)
        elif wire == 1:
            value, position = struct.unpack_from("<Q", message, position)[0], position + 8
        elif wire == 2:
            length, position = _varint(message, position, path)
            value, position = message[position : position + length], position + length
        elif wire == 5:
            value, position = struct.unpack_from("<I", message, position)[0], position + 4
        else:
            raise CheckpointError(f"{path}: protobuf wire type {wire} in an entry")
        if position > len(message):
            raise CheckpointError(f"{path}: a truncated protobuf entry")
        fields.setdefault(number, []).append(value)
    return fields


def _scalar(fields: dict[int, list], number: int, default: int) -> int:
    values = fields.get(number)
    return int(values[-1]) if values else default


def _shape(message: bytes, path: Path) -> list[int]:
    """``TensorShapeProto``: repeated ``dim`` (2) of ``Dim {int64 size = 1}``; ``unknown_rank`` (3)."""
    fields = _fields(message, path)
    if _scalar(fields, 3, 0):
        raise CheckpointError(f"{path}: a tensor of unknown rank")
    return [_scalar(_fields(dim, path), 1, 0) for dim in fields.get(2, [])]
